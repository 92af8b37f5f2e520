namespace RunSaga.Contracts;

/// <summary>
/// One batch of scraped items. Published by scrapers; consumed by the staging consumer, which stages it
/// whether or not the run's saga exists yet. Idempotent by <c>(RunId, BatchId)</c>: a redelivered or
/// republished batch is staged once.
/// </summary>
public sealed record ItemsScraped
{
    public Guid RunId { get; init; }
    public string BatchId { get; init; } = null!;
    public IReadOnlyList<ScrapedItem> Items { get; init; } = [];
}
