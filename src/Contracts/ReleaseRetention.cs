namespace RunSaga.Contracts;

/// <summary>
/// Command: an operator releases retention for a source that was withheld after a suspiciously small run.
/// Consumed by the retention consumer; runs completed before the release no longer withhold retention.
/// Idempotent: releasing a source that is not withheld changes nothing.
/// </summary>
public sealed record ReleaseRetention
{
    public string Source { get; init; } = null!;
    public string? ReleasedBy { get; init; }
}
