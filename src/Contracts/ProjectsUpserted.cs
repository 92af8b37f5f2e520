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

    /// <summary>
    /// True when the run's lineage summary (<c>runsaga.run_lineage</c>) was recorded in the promotion's own transaction:
    /// the run is complete, no <see cref="StampLineage"/> follows. False (or absent, from an older promotion consumer):
    /// the saga sends <see cref="StampLineage"/> as before.
    /// </summary>
    public bool LineageRecorded { get; init; }
}
