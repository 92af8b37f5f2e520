namespace RunSaga.Contracts;

/// <summary>
/// Command: archive a finished run's artifacts now, whatever its age (not a pinned, open or deleted run).
/// Consumed by the retention consumer; answered by <see cref="RunArchived"/> or <see cref="RetentionFailed"/>.
/// Idempotent: an archived run is archived again from the same rows only while it is restored, and only by a command
/// sent after the restore (the envelope's <c>sentTime</c>): a redelivered or late ArchiveRun does not undo a restore.
/// </summary>
public sealed record ArchiveRun
{
    public Guid RunId { get; init; }
    public string? RequestedBy { get; init; }
}
