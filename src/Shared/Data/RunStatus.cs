namespace RunSaga.Shared.Data;

/// <summary>
/// The five public run statuses, and how the saga's internal states map onto them.
/// </summary>
public static class RunStatus
{
    public const string Queued = "Queued";
    public const string Running = "Running";
    public const string Flushed = "Flushed";
    public const string Completed = "Completed";
    public const string Failed = "Failed";

    /// <summary>MassTransit's state before the first event is applied.</summary>
    public const string Initial = "Initial";
    /// <summary>Internal: a completion or failure arrived for a run nobody has requested or started yet.</summary>
    public const string AwaitingStart = "AwaitingStart";
    /// <summary>Internal: the scrape is complete and the flush check is waiting for batches.</summary>
    public const string Flushing = "Flushing";

    public static readonly IReadOnlyList<string> All = [Queued, Running, Flushed, Completed, Failed];

    public static string Public(string state) => state switch
    {
        Initial or AwaitingStart => Queued,
        Flushing => Running,
        _ => state,
    };

    public static bool IsFinal(string status) => status is Completed or Failed;
}
