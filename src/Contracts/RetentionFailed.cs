namespace RunSaga.Contracts;

/// <summary>
/// A retention cycle hit an error and stopped there (recorded as failed in <c>runsaga.retention_cycles</c>;
/// nothing after the error ran, the step that failed was rolled back), or an operator's ArchiveRun, DeleteRun,
/// PinRun or RestoreRun was refused or failed and changed nothing. Published by the retention consumer.
/// </summary>
public sealed record RetentionFailed
{
    public string? Source { get; init; }
    /// <summary>The run a manual command (ArchiveRun, DeleteRun, RestoreRun) named.</summary>
    public Guid? RunId { get; init; }
    public string Reason { get; init; } = null!;
}
