namespace RunSaga.Contracts;

/// <summary>
/// The scraper gave up. Published by scrapers; consumed by the run saga, which fails the run (unless it
/// is already flushed or finished) and leaves the current-state tables untouched. Idempotent by
/// <see cref="RunId"/>.
/// </summary>
public sealed record ScrapeFailed
{
    public Guid RunId { get; init; }
    public string ErrorCode { get; init; } = null!;
    public string ErrorMessage { get; init; } = null!;
    public string? ErrorDetail { get; init; }
}
