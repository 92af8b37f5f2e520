namespace RunSaga.Contracts;

/// <summary>
/// Command: unpack an archived run back into the staging tables, read-only, for analysis (<c>restored_at</c>
/// set; the next retention cycle archives it again unless it is pinned). Answered by <see cref="RunRestored"/>
/// or <see cref="RetentionFailed"/>. Idempotent.
/// </summary>
public sealed record RestoreRun
{
    public Guid RunId { get; init; }
    public string? RequestedBy { get; init; }
}
