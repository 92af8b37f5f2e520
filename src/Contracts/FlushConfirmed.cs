namespace RunSaga.Contracts;

/// <summary>
/// Every announced batch of the run is durably staged and the counts balance. Published by the flush
/// check (flush and staging consumers); consumed by the run saga (<c>Flushed</c>). May be published more
/// than once for a run; only the first changes anything.
/// </summary>
public sealed record FlushConfirmed
{
    public Guid RunId { get; init; }
    /// <summary>Distinct valid item keys staged for the run.</summary>
    public int StagedItems { get; init; }
    public int StagedBatches { get; init; }
}
