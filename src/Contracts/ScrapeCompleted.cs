namespace RunSaga.Contracts;

/// <summary>
/// The scraper has published every batch of the run. Published by scrapers; consumed by the run saga,
/// which asks for a flush: the run is flushed only when <see cref="TotalBatches"/> distinct batches are
/// staged and their items add up to <see cref="TotalItems"/>. Idempotent by <see cref="RunId"/>: the
/// first one counts, repeats are logged and ignored.
/// </summary>
public sealed record ScrapeCompleted
{
    public Guid RunId { get; init; }
    public int TotalItems { get; init; }
    public int TotalBatches { get; init; }
}
