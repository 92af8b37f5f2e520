using MassTransit;

namespace RunSaga.Shared.Data;

/// <summary>
/// One run: the run saga's instance and the run ledger's row (<c>runsaga.runs</c>). Finished runs are
/// kept; the saga table is the ledger. <see cref="CurrentState"/> is the saga's internal state and
/// <see cref="Status"/> the public one (see <see cref="RunStatus"/>).
/// </summary>
public sealed class RunState : SagaStateMachineInstance, ISagaVersion
{
    private string currentState = RunStatus.Initial;

    public Guid CorrelationId { get; set; }

    /// <summary>Incremented on every write; with the row lock it is belt and braces.</summary>
    public int Version { get; set; }

    public string CurrentState
    {
        get => currentState;
        set
        {
            currentState = value;
            Status = RunStatus.Public(value);
        }
    }

    public string Status { get; set; } = RunStatus.Queued;
    public string? Source { get; set; }
    public string ProcessType { get; set; } = Data.ProcessType.Ingestion;
    /// <summary>
    /// Unique among runs that are not Failed or Cancelled (a partial unique index): those are the runs that hold it.
    /// Set by the saga once it knows whether another run holds the key (see <see cref="DuplicateOf"/>).
    /// </summary>
    public string? IdempotencyKey { get; set; }

    /// <summary>1 for the first run of its idempotency key; one more than <see cref="RetryOf"/>'s for a retry.</summary>
    public int Attempt { get; set; } = 1;
    /// <summary>The key's newest failed or cancelled run when this run was created: the attempt this one retries.</summary>
    public Guid? RetryOf { get; set; }
    /// <summary>The run holding this run's idempotency key: this run id was never run (Cancelled, DUPLICATE_RUN).</summary>
    public Guid? DuplicateOf { get; set; }
    /// <summary>Who cancelled the run (a <c>CancelRun</c>'s requestedBy).</summary>
    public string? CancelledBy { get; set; }
    public string? InputVersion { get; set; }
    public string? PipelineVersion { get; set; }
    public string? RequestedBy { get; set; }
    public string? FolderName { get; set; }

    public DateTime CreatedAt { get; set; }
    public DateTime? RequestedAt { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? FlushedAt { get; set; }
    public DateTime? CompletedAt { get; set; }
    /// <summary>When the run ended without completing: failed or cancelled.</summary>
    public DateTime? FailedAt { get; set; }

    /// <summary>When the flush (or an unidentified run) stops waiting; read by the deadline watcher.</summary>
    public DateTime? FlushDeadline { get; set; }
    /// <summary>When the run fails with RUN_TIMEOUT unless it reached <c>Flushed</c>.</summary>
    public DateTime? RunDeadline { get; set; }

    /// <summary>
    /// When the command the run is waiting on (FlushRun, PromoteRun, StampLineage) is sent again unless the
    /// run has moved on: a last resort (the outbox delivers the command even after a crash; a consumer may still have
    /// dead-lettered it).
    /// </summary>
    public DateTime? ResendAt { get; set; }

    public int? ExpectedItems { get; set; }
    public int? ExpectedBatches { get; set; }
    public int? StagedItems { get; set; }
    public int? StagedBatches { get; set; }
    public int? RejectedItems { get; set; }
    public int? Inserted { get; set; }
    public int? Updated { get; set; }
    public int? Unchanged { get; set; }
    public int? Errored { get; set; }

    public string? ErrorCode { get; set; }
    public string? ErrorMessage { get; set; }
    public string? ErrorDetail { get; set; }

    /// <summary>
    /// Set by retention on a completed full run that staged suspiciously few items: retention for its source
    /// is withheld until an operator releases it (see <see cref="SourceRetention"/>).
    /// </summary>
    public bool RetentionWithheld { get; set; }

    // The run's artifacts (staged items and batches) after it finished. Owner: retention (RunArtifacts, SourcePruner),
    // the row's second writer, by design: these columns describe the finished run, so they live on its ledger row where
    // readers look, but the saga never writes them (nor reads them to decide anything). Retention writes only these
    // columns and `version` (so a saga update racing it fails its version check and is retried), always under the run's
    // artifact lock and row lock; the saga's repository writes only the properties it changed, never these.

    /// <summary>When the artifacts went into <see cref="ArchivePath"/> and left the staging tables.</summary>
    public DateTime? ArchivedAt { get; set; }
    /// <summary>The archive file, relative to ARCHIVE_BASE_PATH (e.g. <c>2026/11/shop-2026-11-22.tar.gz</c>).</summary>
    public string? ArchivePath { get; set; }
    /// <summary>SHA-256 (hex) of the archive file, checked before a restore.</summary>
    public string? ArchiveSha256 { get; set; }
    /// <summary>Retention neither archives nor deletes the run before this moment.</summary>
    public DateTime? PinnedUntil { get; set; }
    /// <summary>Set while the archive is unpacked back into staging for analysis; the next cycle archives it again.</summary>
    public DateTime? RestoredAt { get; set; }
    /// <summary>Soft deletion: the artifacts are gone, the row stays (see <c>run_audit</c>).</summary>
    public DateTime? DeletedAt { get; set; }
    public string? DeletionReason { get; set; }

    // Transient: decided while the saga applies one message, never stored (see RunStateConfiguration).

    /// <summary>Why the idempotency key the message carried cannot be this run's: another source's run holds it.</summary>
    public string? KeyConflict { get; set; }
    /// <summary>Why the request or start the message carried cannot be recorded (too long a field): the run fails INVALID_REQUEST.</summary>
    public string? RequestProblem { get; set; }
    /// <summary>A cancel found the run's promotion committed (it completes).</summary>
    public bool PromotionCommitted { get; set; }
    /// <summary>What the run's history says of the message being handled, when the state machine knows better than "changed"
    /// or "unchanged": <c>ignored</c> or <c>late</c> (<see cref="RunEvent.Outcome"/>). Not stored on the run.</summary>
    public string? HistoryOutcome { get; set; }
    /// <summary>A line the state machine adds to the history of the message being handled (a held flush verdict, a refused
    /// cancel). Not stored on the run.</summary>
    public string? HistoryNote { get; set; }

    public List<string> BatchIds { get; set; } = [];
    /// <summary>JSON array of step records <c>{name, status, started_at, finished_at, error, ...}</c>.</summary>
    public string Metrics { get; set; } = "[]";
    /// <summary>JSON object of the requester's metadata.</summary>
    public string? Metadata { get; set; }
}
