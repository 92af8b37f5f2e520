namespace RunSaga.Contracts;

/// <summary>
/// A scraper asks for a run. Published by scrapers; consumed by the run saga, which creates the run in
/// <c>Queued</c>. Idempotent by <see cref="RunId"/> and, when given, by <see cref="IdempotencyKey"/>
/// (conventionally <c>source:inputVersion:pipelineVersion</c>): a key already held by a run creates no
/// second run and is answered with <see cref="RunAccepted"/> naming the existing run.
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
