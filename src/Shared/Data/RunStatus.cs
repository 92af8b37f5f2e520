namespace RunSaga.Shared.Data;

/// <summary>
/// The six public run statuses, and how the saga's internal states map onto them.
/// </summary>
public static class RunStatus
{
    public const string Queued = "Queued";
    public const string Running = "Running";
    public const string Flushed = "Flushed";
    public const string Completed = "Completed";
    public const string Failed = "Failed";
    /// <summary>Ended without completing by a <c>CancelRun</c> (error code CANCELLED), or a run id whose request repeated
    /// a held idempotency key (DUPLICATE_RUN). Final; its batches are refused; retention treats it as a failed run.</summary>
    public const string Cancelled = "Cancelled";

    /// <summary>MassTransit's state before the first event is applied.</summary>
    public const string Initial = "Initial";
    /// <summary>Internal: a completion or failure arrived for a run nobody has requested or started yet.</summary>
    public const string AwaitingStart = "AwaitingStart";
    /// <summary>Internal: the scrape is complete and the flush check is waiting for batches.</summary>
    public const string Flushing = "Flushing";
    /// <summary>Internal: a run id whose idempotency key another run holds (shown as Cancelled, DUPLICATE_RUN).</summary>
    public const string Duplicate = "Duplicate";

    public static readonly IReadOnlyList<string> All = [Queued, Running, Flushed, Completed, Failed, Cancelled];

    public static string Public(string state) => state switch
    {
        Initial or AwaitingStart => Queued,
        Flushing => Running,
        Duplicate => Cancelled,
        _ => state,
    };

    public static bool IsFinal(string status) => status is Completed or Failed or Cancelled;

    /// <summary>Ended without completing: the run's idempotency key may be retried.</summary>
    public static bool EndedUnfinished(string status) => status is Failed or Cancelled;
}
