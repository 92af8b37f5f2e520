namespace RunSaga.Contracts;

/// <summary>
/// Command: end a run that has not completed. Sent by operators (<c>POST /runs/{id}/cancel</c>, <c>runsaga runs
/// cancel</c>) or anything allowed to command RunSaga; consumed by the run saga. A Queued or Running run, or a Flushed
/// run whose promotion has not committed, ends <c>Cancelled</c> with error code <c>CANCELLED</c> and a
/// <see cref="RunFailed"/> carrying that code; <c>projects</c> is left exactly as it was and later batches of the run
/// are refused. A run that already ended (or whose promotion committed) is left as it is. Idempotent: a repeat changes nothing.
/// </summary>
public sealed record CancelRun
{
    public Guid RunId { get; init; }
    /// <summary>Why, in the operator's words; recorded as the run's error message.</summary>
    public string? Reason { get; init; }
    /// <summary>Who asked (the API fills in the key's name).</summary>
    public string? RequestedBy { get; init; }
}
