namespace RunSaga.Contracts;

/// <summary>
/// Command: record the run's lineage summary. Sent by the run saga after <see cref="ProjectsUpserted"/>;
/// consumed by the lineage consumer, which answers with <see cref="LineageStamped"/>. Idempotent by
/// <see cref="RunId"/>.
/// </summary>
public sealed record StampLineage
{
    public Guid RunId { get; init; }
    public string Source { get; init; } = null!;
    public string ProcessType { get; init; } = null!;
}
