namespace RunSaga.Contracts;

/// <summary>
/// The run's items are in <c>projects</c>, with item lineage stamped. Published by the promotion consumer;
/// consumed by the run saga. Idempotent by <see cref="RunId"/>.
/// </summary>
public sealed record ProjectsUpserted
{
    public Guid RunId { get; init; }
    public int Inserted { get; init; }
    public int Updated { get; init; }
    public int Unchanged { get; init; }
    public int Errored { get; init; }
}
