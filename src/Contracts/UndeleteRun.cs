namespace RunSaga.Contracts;

/// <summary>
/// Command: bring back a soft-deleted run (DELETION_STRATEGY=soft) while its archive is still in the trash
/// (<c>{ARCHIVE_BASE_PATH}/.trash</c>, kept TRASH_KEEP_DAYS). The run is archived again; <see cref="RestoreRun"/> then
/// brings its items back into staging. Answered by <see cref="RunUndeleted"/>, or by <see cref="RetentionFailed"/> saying
/// why not (not deleted, hard-deleted, deleted before it was archived, or its file is gone from the trash). Sent by an
/// admin (<c>POST /runs/{id}/undelete</c>, <c>runsaga run undelete</c>). Idempotent: a run already back is refused as not deleted.
/// </summary>
public sealed record UndeleteRun
{
    public Guid RunId { get; init; }
    public string? RequestedBy { get; init; }
}
