namespace RunSaga.Contracts;

/// <summary>
/// A retention cycle hit an error and was rolled back: nothing was deleted. Published by the retention
/// consumer; the cycle is recorded as failed in <c>runsaga.retention_cycles</c>.
/// </summary>
public sealed record RetentionFailed
{
    public string? Source { get; init; }
    public string Reason { get; init; } = null!;
}
