namespace RunSaga.Consumers.Flush;

/// <summary>
/// A run's flush request (what the scraper announced) next to what is durably staged for it, read under the
/// run lock, and the verdict it allows.
/// </summary>
/// <param name="StagedItems">Items the staged batches carried (valid, rejected and duplicates alike).</param>
/// <param name="DistinctKeys">Distinct valid keys staged for the run.</param>
/// <param name="Verdict">
/// Null while announced batches are still missing (the saga's flush timeout decides FLUSH_INCOMPLETE);
/// confirmed when every announced batch is there and the item counts balance; COUNT_MISMATCH otherwise.
/// </param>
public sealed record FlushStatus(
    Guid RunId,
    int ExpectedItems,
    int ExpectedBatches,
    long StagedBatches,
    long StagedItems,
    long DistinctKeys,
    long RejectedItems,
    long DuplicateItems,
    FlushVerdict? Verdict)
{
    /// <summary>All announced batches are staged (or more).</summary>
    public bool AllBatchesStaged => StagedBatches >= ExpectedBatches;

    /// <summary>Exactly the announced batches are staged and they hold exactly the announced items.</summary>
    public bool Balanced => StagedBatches == ExpectedBatches && StagedItems == ExpectedItems;
}
