namespace RunSaga.Shared.Data;

// Row types for the tables the pipeline writes with set-based SQL. EF maps them so that migrations own
// the schema and operators can query them; the hot path never loads them row by row.

/// <summary>One staged item: one row per run and key; the last staged copy of a repeated key wins.</summary>
public sealed class StagedItem
{
    public Guid RunId { get; set; }
    public string Key { get; set; } = null!;
    public string BatchId { get; set; } = null!;
    public string? Title { get; set; }
    public string? Url { get; set; }
    public string? Data { get; set; }
    public string? Error { get; set; }
    public string ContentHash { get; set; } = null!;
    public DateTime StagedAt { get; set; }
}

/// <summary>One staged batch: one row per run and batch id, so a redelivered batch is a no-op.</summary>
public sealed class StagedBatch
{
    public Guid RunId { get; set; }
    public string BatchId { get; set; } = null!;
    /// <summary>Items in the message, valid or not: what the scraper's <c>totalItems</c> counts.</summary>
    public int ItemCount { get; set; }
    /// <summary>Keys this batch added to the run (new rows in <c>staged_items</c>).</summary>
    public int StagedCount { get; set; }
    /// <summary>Items that repeated a key already staged in this run (in this batch or an earlier one).</summary>
    public int DuplicateCount { get; set; }
    public int RejectedCount { get; set; }
    /// <summary>JSON array of <c>{key, reason}</c> for the rejected items.</summary>
    public string Rejections { get; set; } = "[]";
    public DateTime StagedAt { get; set; }
}

/// <summary>The flush the saga asked for: what the scraper announced.</summary>
public sealed class FlushRequest
{
    public Guid RunId { get; set; }
    public int ExpectedItems { get; set; }
    public int ExpectedBatches { get; set; }
    public DateTime RequestedAt { get; set; }
}

/// <summary>
/// The stored state of one item of a source (<c>runsaga.project_rows</c>); readers query the view
/// <c>runsaga.projects</c>, which adds the effective last confirmation (see <see cref="ProjectState"/>).
/// </summary>
public sealed class Project
{
    public string Source { get; set; } = null!;
    public string Key { get; set; } = null!;
    public string? Title { get; set; }
    public string? Url { get; set; }
    public string? Data { get; set; }
    public string ContentHash { get; set; } = null!;
    public string Status { get; set; } = "ok";
    public string? Error { get; set; }
    public Guid CreatedByRunId { get; set; }
    public Guid LastUpdatedByRunId { get; set; }

    /// <summary>
    /// The run that last wrote this row's confirmation. Not always the item's last confirmation: read
    /// <c>last_confirmed_run_id</c> from the view <c>runsaga.projects</c> (see <see cref="ProjectState"/>).
    /// </summary>
    public Guid ConfirmedRunId { get; set; }

    public string BatchId { get; set; } = null!;
    public DateTime FirstSeenAt { get; set; }

    /// <summary>
    /// The <c>promoted_at</c> of <see cref="ConfirmedRunId"/> (the item's <c>last_seen_at</c> unless a later full run saw it).
    /// </summary>
    public DateTime ConfirmedAt { get; set; }

    /// <summary>
    /// Every full run of the source promoted since <see cref="ConfirmedRunId"/> carried this item, so the newest of
    /// them is its last confirmation. A full run that leaves the item out clears it (and writes its confirmation
    /// down first); so an unchanged item costs a full run no write at all.
    /// </summary>
    public bool FollowsFullRuns { get; set; }

    public DateTime UpdatedAt { get; set; }
}

/// <summary>Append-only: one row per change of one item.</summary>
public sealed class ProjectLineage
{
    public long Id { get; set; }
    public string Source { get; set; } = null!;
    public string Key { get; set; } = null!;
    public Guid RunId { get; set; }
    public string? BatchId { get; set; }
    /// <summary><c>created</c>, <c>updated</c>, <c>errored</c> or <c>deleted</c>.</summary>
    public string Change { get; set; } = null!;
    public string? ContentHash { get; set; }
    public DateTime RecordedAt { get; set; }
}

/// <summary>Written in the promotion transaction: marks the run promoted and keeps its counts.</summary>
public sealed class RunPromotion
{
    public Guid RunId { get; set; }
    public string Source { get; set; } = null!;
    public int Inserted { get; set; }
    public int Updated { get; set; }
    public int Unchanged { get; set; }
    public int Errored { get; set; }
    public DateTime PromotedAt { get; set; }

    /// <summary>An ingestion or manual_reindex run: it carried every item of its source (a sync run carries some).</summary>
    public bool FullRun { get; set; }
}

/// <summary>The run's lineage summary (seed 004): what it discovered, updated, errored, and from which batches.</summary>
public sealed class RunLineage
{
    public Guid RunId { get; set; }
    public string Source { get; set; } = null!;
    public string ProcessType { get; set; } = null!;
    public int Discovered { get; set; }
    public int Updated { get; set; }
    public int Deleted { get; set; }
    public int Errored { get; set; }
    public int Unchanged { get; set; }
    public List<string> BatchIds { get; set; } = [];
    public DateTime StampedAt { get; set; }
}

/// <summary>Retention's standing per source: withheld after a suspiciously small run until released.</summary>
public sealed class SourceRetention
{
    public string Source { get; set; } = null!;
    public bool Withheld { get; set; }
    public Guid? WithheldByRunId { get; set; }
    public DateTime? WithheldAt { get; set; }
    public string? WithheldReason { get; set; }
    /// <summary>Runs completed before this moment no longer withhold retention.</summary>
    public DateTime? ReleasedAt { get; set; }
    public string? ReleasedBy { get; set; }
}

/// <summary>One retention cycle for one source (or for none, when it failed before choosing one): what it did or would do.</summary>
public sealed class RetentionCycle
{
    public long Id { get; set; }
    public string? Source { get; set; }
    /// <summary>What started it: <c>run-completed</c>, <c>scheduled</c> or <c>manual</c>.</summary>
    public string Trigger { get; set; } = null!;
    public Guid? RunId { get; set; }
    public bool DryRun { get; set; }
    public DateTime StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    /// <summary><c>running</c>, <c>succeeded</c>, <c>skipped</c>, <c>withheld</c> or <c>failed</c>.</summary>
    public string Outcome { get; set; } = null!;
    public int ProjectsDeleted { get; set; }
    public int RunsArchived { get; set; }
    public int RunsDeleted { get; set; }
    public string? Reason { get; set; }
    public string? Error { get; set; }
    /// <summary>For a dry run: the first keys that would be deleted.</summary>
    public List<string> SampleKeys { get; set; } = [];
    /// <summary>Who the triggering ApplyRetention says asked (the API puts the calling key's name there).</summary>
    public string? RequestedBy { get; set; }
    /// <summary>The broker user RabbitMQ vouches published the triggering message.</summary>
    public string? PublishedBy { get; set; }
}

/// <summary>A recurring schedule (e.g. retention's): when it fires next; claimed atomically so it fires once.</summary>
public sealed class Schedule
{
    public string Name { get; set; } = null!;
    /// <summary>Quartz-style cron expression with seconds, evaluated in UTC.</summary>
    public string Cron { get; set; } = null!;
    public DateTime NextFireAt { get; set; }
    public DateTime? LastFiredAt { get; set; }
}

/// <summary>
/// A poll that several processes run but only one of them should run at a time (e.g. the deadline watcher's): the
/// process whose <c>UPDATE … WHERE next_poll_at &lt;= now()</c> moves <see cref="NextPollAt"/> on is the one that polls.
/// </summary>
public sealed class PollLease
{
    public string Name { get; set; } = null!;
    public DateTime NextPollAt { get; set; }
    /// <summary>Who polled last (host name and process id), for an operator asking which instance does the work.</summary>
    public string? PolledBy { get; set; }
    public DateTime? PolledAt { get; set; }
}

/// <summary>
/// Written when retention deletes a run's artifacts (and, with DELETION_STRATEGY=hard, its row): what the run
/// was, who deleted it and why. Append-only; outlives the run.
/// </summary>
public sealed class RunAudit
{
    public long Id { get; set; }
    public Guid RunId { get; set; }
    public string? Source { get; set; }
    public string? FolderName { get; set; }
    public string? ProcessType { get; set; }
    public string Status { get; set; } = null!;
    public DateTime CreatedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    public DateTime? ArchivedAt { get; set; }
    public string? ArchivePath { get; set; }
    public int? StagedItems { get; set; }
    public int? Inserted { get; set; }
    public int? Updated { get; set; }
    public int? Unchanged { get; set; }
    public int? Errored { get; set; }
    public string? ErrorCode { get; set; }
    /// <summary><c>deleted</c> (soft: row kept, archive to the trash), <c>hard-deleted</c> (row removed), <c>undeleted</c> (a soft-deleted run back) or <c>trash-purged</c> (its archive removed from the trash).</summary>
    public string Action { get; set; } = null!;
    public string Reason { get; set; } = null!;
    /// <summary><c>retention</c> for a scheduled cycle, else whoever sent <c>DeleteRun</c>.</summary>
    public string RequestedBy { get; set; } = null!;
    /// <summary>The broker user RabbitMQ vouches published the command (its validated user_id); null when none was set.</summary>
    public string? PublishedBy { get; set; }
    public DateTime RecordedAt { get; set; }
    /// <summary>The whole run row as JSON at deletion time.</summary>
    public string RunRow { get; set; } = null!;
}

/// <summary>One mutating API call: who (the API key's name), what, and how it was answered.</summary>
public sealed class ApiAudit
{
    public long Id { get; set; }
    public string KeyName { get; set; } = null!;
    public string Method { get; set; } = null!;
    public string Path { get; set; } = null!;
    public int Status { get; set; }
    public DateTime RecordedAt { get; set; }
}

/// <summary>
/// One step in a run's history (<c>GET /runs/{id}/events</c>): a message the saga handled, written in the transaction that
/// handled it, or a step of the Consumers (a batch that came twice or late, the flush verdict, the promotion, lineage,
/// retention's actions on the run), written in that step's own transaction. Batches that stage normally are not listed
/// one by one: the history reads them as a summary from <c>staged_batches</c>. See <see cref="RunHistory"/>.
/// </summary>
public sealed class RunEvent
{
    public long Id { get; set; }
    public Guid RunId { get; set; }
    /// <summary>When the step was taken (the database's clock).</summary>
    public DateTime RecordedAt { get; set; }
    /// <summary>When the message was sent, from its envelope; null for a step that is not a message.</summary>
    public DateTime? SentAt { get; set; }
    /// <summary>Who took the step: <c>saga</c>, <c>staging</c>, <c>flush</c>, <c>promotion</c>, <c>lineage</c> or <c>retention</c>.</summary>
    public string Actor { get; set; } = null!;
    /// <summary>The message's contract name (<c>ScrapeCompleted</c>) or the step's name (<c>FlushVerdict</c>).</summary>
    public string Event { get; set; } = null!;
    public Guid? MessageId { get; set; }
    public string? StateBefore { get; set; }
    public string? StateAfter { get; set; }
    /// <summary><c>changed</c>, <c>unchanged</c>, <c>duplicate</c> (this message was recorded before), <c>ignored</c> (means nothing in this state) or <c>late</c> (the run had moved past it).</summary>
    public string Outcome { get; set; } = null!;
    public string? Summary { get; set; }
}

/// <summary>
/// A dead letter an operator replayed or discarded (<c>POST /errors/{queue}/replay</c>, <c>…/discard</c>): who, when,
/// which message, and for a discard the whole body, so that nothing an operator removes is lost. Append-only.
/// </summary>
public sealed class DeadLetterAction
{
    public long Id { get; set; }
    /// <summary><c>replayed</c> or <c>discarded</c>.</summary>
    public string Action { get; set; } = null!;
    public string Queue { get; set; } = null!;
    /// <summary>Where a replay put the message (the queue it failed on); null for a discard.</summary>
    public string? TargetQueue { get; set; }
    public string? MessageId { get; set; }
    public string? MessageType { get; set; }
    public Guid? RunId { get; set; }
    public string? FaultMessage { get; set; }
    /// <summary><c>api:&lt;key name&gt;</c>.</summary>
    public string RequestedBy { get; set; } = null!;
    /// <summary>Why it was discarded (required for a discard).</summary>
    public string? Reason { get; set; }
    /// <summary>The discarded message's body, as it was in the queue.</summary>
    public byte[]? Body { get; set; }
    public DateTime RecordedAt { get; set; }
}

/// <summary>
/// A message a transaction decided to publish or send, written in that transaction and delivered after it committed
/// (the transactional outbox, see docs/architecture.md). Delivered rows are deleted.
/// </summary>
public sealed class OutboxMessage
{
    /// <summary>Commit-independent order of writing; a run's messages are delivered in this order.</summary>
    public long Sequence { get; set; }

    /// <summary>The envelope's messageId, the same on every delivery of this row.</summary>
    public Guid MessageId { get; set; }

    public Guid? RunId { get; set; }

    /// <summary>Null to publish (to the message type's exchange); a queue name to send to that queue.</summary>
    public string? Queue { get; set; }

    /// <summary>The contract's full type name, e.g. <c>RunSaga.Contracts.RunCompleted</c>.</summary>
    public string MessageType { get; set; } = null!;

    /// <summary>The message as JSON (the envelope's <c>message</c>).</summary>
    public string Body { get; set; } = null!;

    public Guid? ConversationId { get; set; }

    /// <summary>The messageId of the message whose handling wrote this one.</summary>
    public Guid? InitiatorId { get; set; }

    public DateTime CreatedAt { get; set; }
}
