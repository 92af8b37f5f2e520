namespace RunSaga.Contracts;

/// <summary>
/// Command: delete a finished run's artifacts (archive file, staging rows) now, and with DELETION_STRATEGY=hard
/// its row; a <c>run_audit</c> row records who and why. Refused for pinned and open runs. Answered by
/// <see cref="RunDeleted"/> or <see cref="RetentionFailed"/>. Idempotent: a deleted run stays deleted.
/// </summary>
public sealed record DeleteRun
{
    public Guid RunId { get; init; }
    public string Reason { get; init; } = null!;
    public string RequestedBy { get; init; } = null!;
}
