namespace RunSaga.Contracts;

/// <summary>
/// Command: retention neither archives nor deletes the run before <see cref="Until"/>. A moment in the past
/// (or null) unpins it. Answered by <see cref="RunPinned"/>.
/// </summary>
public sealed record PinRun
{
    public Guid RunId { get; init; }
    /// <summary>With its offset (e.g. <c>2026-12-01T00:00:00Z</c>).</summary>
    public DateTimeOffset? Until { get; init; }
    public string? RequestedBy { get; init; }
}
