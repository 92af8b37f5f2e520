namespace RunSaga.Contracts;

/// <summary>
/// A scraper has started scraping. Published by scrapers; consumed by the run saga (moves the run to
/// <c>Running</c>, creating it if no <see cref="RunRequested"/> came first). Idempotent by
/// <see cref="RunId"/>: a repeat changes nothing.
/// </summary>
public sealed record RunStarted
{
    public Guid RunId { get; init; }
    public string Source { get; init; } = null!;
    public string? ProcessType { get; init; }
}
