using RunSaga.Contracts;

namespace RunSaga.Consumers.Flush;

/// <summary>
/// A run's flush request (what the scraper announced) next to what is durably staged for it, read under the
/// run lock.
/// </summary>
/// <param name="StagedItems">Items the staged batches carried (valid, rejected and duplicates alike).</param>
/// <param name="DistinctKeys">Distinct valid keys staged for the run.</param>
public sealed record FlushStatus(
    Guid RunId,
    int ExpectedItems,
    int ExpectedBatches,
    long StagedBatches,
    long StagedItems,
    long DistinctKeys)
{
    /// <summary>
    /// Null while announced batches are still missing (the saga's flush timeout decides FLUSH_INCOMPLETE);
    /// confirmed when every announced batch is there and the item counts balance; COUNT_MISMATCH otherwise.
    /// </summary>
    public FlushVerdict? Verdict
    {
        get
        {
            if (StagedBatches < ExpectedBatches)
            {
                return null;
            }

            if (StagedBatches == ExpectedBatches && StagedItems == ExpectedItems)
            {
                return FlushVerdict.Confirm(new FlushConfirmed
                {
                    RunId = RunId,
                    StagedItems = checked((int)DistinctKeys),
                    StagedBatches = checked((int)StagedBatches),
                });
            }

            return FlushVerdict.Fail(new FlushFailed
            {
                RunId = RunId,
                ErrorCode = FlushVerdict.CountMismatch,
                ErrorMessage = $"the scraper announced {ExpectedItems} items in {ExpectedBatches} batches; "
                    + $"staged batches hold {StagedItems} items in {StagedBatches} batches. "
                    + "Compare the scraper's totals with runsaga.staged_batches for this run, fix the scraper's "
                    + "counting, and run it again.",
            });
        }
    }
}
