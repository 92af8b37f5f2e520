namespace RunSaga.Contracts;

/// <summary>
/// Command: promote the run's staged items into <c>projects</c>. Sent by the run saga once the run is
/// <c>Flushed</c>; consumed by the promotion consumer, which does it in one transaction and answers with
/// <see cref="ProjectsUpserted"/>. Idempotent by <see cref="RunId"/>: a repeat republishes the recorded
/// counts and changes no row.
/// </summary>
public sealed record PromoteRun
{
    public Guid RunId { get; init; }
    public string Source { get; init; } = null!;
    public string ProcessType { get; init; } = null!;
}
