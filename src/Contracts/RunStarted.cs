namespace RunSaga.Contracts;

/// <summary>
/// A scraper has started scraping. Published by scrapers; consumed by the run saga (moves the run to
/// <c>Running</c>, creating it if no <see cref="RunRequested"/> came first). Idempotent by
/// <see cref="RunId"/>: a repeat changes nothing. When the run has an idempotency key, send it here too: a
/// <see cref="RunStarted"/> that arrives before its <see cref="RunRequested"/> then cannot start a run whose key
/// another run holds (such a run id ends <c>Cancelled</c> with <c>DUPLICATE_RUN</c> and is never promoted).
/// </summary>
public sealed record RunStarted
{
    public Guid RunId { get; init; }
    public string Source { get; init; } = null!;
    public string? ProcessType { get; init; }
    /// <summary>The same key as the run's <see cref="RunRequested.IdempotencyKey"/>, if it has one.</summary>
    public string? IdempotencyKey { get; init; }
}
