namespace RunSaga.Contracts;

/// <summary>
/// The run's changes are in the lineage log and its lineage summary is recorded. Published by the lineage
/// consumer; consumed by the run saga, which completes the run. Idempotent by <see cref="RunId"/>.
/// </summary>
public sealed record LineageStamped
{
    public Guid RunId { get; init; }
}
