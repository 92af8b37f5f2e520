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
    /// <summary>Items refused one by one (no key, key too long, data not an object, …).</summary>
    public int RejectedItems { get; init; }
    /// <summary>Items that repeated a key already staged in the run (the last copy staged wins).</summary>
    public int DuplicateItems { get; init; }
    /// <summary>The run's batch ids, sorted.</summary>
    public IReadOnlyList<string> BatchIds { get; init; } = [];
    /// <summary>The first rejections (at most 100) with their reasons.</summary>
    public IReadOnlyList<ItemRejection> Rejections { get; init; } = [];
}
