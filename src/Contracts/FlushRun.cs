namespace RunSaga.Contracts;

/// <summary>
/// Command: check whether every announced batch of the run is staged. Sent by the run saga when a scrape
/// completes; consumed by the flush consumer, which records the expectation and answers with
/// <see cref="FlushConfirmed"/> or <see cref="FlushFailed"/> as soon as the staged batches allow a verdict
/// (possibly later, from the staging consumer). Idempotent by <see cref="RunId"/>.
/// </summary>
public sealed record FlushRun
{
    public Guid RunId { get; init; }
    public int ExpectedItems { get; init; }
    public int ExpectedBatches { get; init; }
}
