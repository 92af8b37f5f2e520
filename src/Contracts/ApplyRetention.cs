namespace RunSaga.Contracts;

/// <summary>
/// Command: run a retention cycle for <see cref="Source"/>, or for every source when it is null. Sent by the
/// retention schedule or an operator; consumed by the retention consumer. With <see cref="DryRun"/> the cycle
/// computes and reports what it would do and changes nothing. Idempotent: a repeat finds nothing more to do.
/// </summary>
public sealed record ApplyRetention
{
    public string? Source { get; init; }
    public bool DryRun { get; init; }
    public string? RequestedBy { get; init; }

    /// <summary>
    /// Set by the retention schedule: the occurrence (UTC) that sent this command, one command per occurrence however many
    /// Orchestrators run. Null for an operator's command and for the follow-up commands of a long cycle.
    /// </summary>
    public DateTime? ScheduledFor { get; init; }
}
