namespace RunSaga.Contracts;

/// <summary>
/// A scraper asks for a run. Published by scrapers; consumed by the run saga, which creates the run in
/// <c>Queued</c>. Idempotent by <see cref="RunId"/> and, when given, by <see cref="IdempotencyKey"/>
/// (conventionally <c>source:inputVersion:pipelineVersion</c>): a key held by a run of the same source that is
/// queued, running, flushed or completed creates no second run; the request is answered with
/// <see cref="RunAccepted"/> naming that run in <see cref="RunAccepted.DuplicateOf"/>, and this run id ends
/// <c>Cancelled</c> (<c>DUPLICATE_RUN</c>) without ever being promoted. A key whose runs all failed or were cancelled
/// makes a new attempt (<see cref="RunAccepted.RetryOf"/>). A key held by a run of another source fails this run
/// with <c>IDEMPOTENCY_KEY_CONFLICT</c>.
/// </summary>
public sealed record RunRequested
{
    public Guid RunId { get; init; }
    public string Source { get; init; } = null!;
    /// <summary><c>ingestion</c> (default), <c>sync</c> or <c>manual_reindex</c>.</summary>
    public string? ProcessType { get; init; }
    public string? IdempotencyKey { get; init; }
    public string? InputVersion { get; init; }
    public string? PipelineVersion { get; init; }
    public string? RequestedBy { get; init; }
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}
