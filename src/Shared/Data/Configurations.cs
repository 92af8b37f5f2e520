using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace RunSaga.Shared.Data;

internal sealed class RunStateConfiguration : IEntityTypeConfiguration<RunState>
{
    public void Configure(EntityTypeBuilder<RunState> builder)
    {
        builder.ToTable("runs");
        builder.HasKey(x => x.CorrelationId);
        builder.Property(x => x.CorrelationId).HasColumnName("id");
        builder.Property(x => x.CurrentState).HasColumnName("saga_state").HasMaxLength(32).IsRequired();
        builder.Property(x => x.Status).HasMaxLength(16).IsRequired();
        builder.Property(x => x.Version).IsConcurrencyToken();
        builder.Property(x => x.Source).HasMaxLength(256);
        builder.Property(x => x.ProcessType).HasMaxLength(32).IsRequired();
        builder.Property(x => x.IdempotencyKey).HasMaxLength(512);
        builder.Property(x => x.BatchIds).HasColumnType("text[]");
        builder.Property(x => x.Metrics).HasColumnType("jsonb").IsRequired();
        builder.Property(x => x.Metadata).HasColumnType("jsonb");

        builder.Ignore(x => x.KeyConflict);
        builder.Ignore(x => x.RequestProblem);
        builder.Ignore(x => x.PromotionCommitted);
        builder.Ignore(x => x.HistoryOutcome);
        builder.Ignore(x => x.HistoryNote);
        builder.Property(x => x.CancelledBy).HasMaxLength(256);
        builder.Property(x => x.Attempt).HasDefaultValue(1);
        // A key is held by at most one run that has not failed or been cancelled; those may be retried.
        builder.HasIndex(x => x.IdempotencyKey).IsUnique()
            .HasFilter("idempotency_key IS NOT NULL AND status NOT IN ('Failed', 'Cancelled')");
        builder.HasIndex(x => new { x.IdempotencyKey, x.CreatedAt }).HasDatabaseName("IX_runs_idempotency_key_attempts")
            .HasFilter("idempotency_key IS NOT NULL");
        builder.HasIndex(x => new { x.Source, x.CreatedAt });
        // GET /runs without filters (newest first, keyset on created_at and id) and GET /runs/hourly (a range of created_at),
        // which the page asks every 5 s: without it both read the whole ledger.
        builder.HasIndex(x => new { x.CreatedAt, x.CorrelationId });
        builder.HasIndex(x => new { x.Status, x.CreatedAt });
        // The deadline watcher scans only open runs with a deadline.
        builder.HasIndex(x => x.FlushDeadline).HasFilter("flush_deadline IS NOT NULL AND status NOT IN ('Completed', 'Failed', 'Cancelled')");
        builder.HasIndex(x => x.RunDeadline).HasFilter("run_deadline IS NOT NULL AND status NOT IN ('Completed', 'Failed', 'Cancelled')");
        builder.HasIndex(x => x.ResendAt).HasFilter("resend_at IS NOT NULL AND status NOT IN ('Completed', 'Failed', 'Cancelled')");
        builder.Property(x => x.ArchivePath).HasMaxLength(1024);
        builder.Property(x => x.ArchiveSha256).HasMaxLength(64);
        // Two runs never share an archive file.
        builder.HasIndex(x => x.ArchivePath).IsUnique().HasFilter("archive_path IS NOT NULL");
        // Retention's scan: finished runs whose artifacts are not deleted yet.
        builder.HasIndex(x => new { x.Status, x.CompletedAt, x.FailedAt }).HasFilter("deleted_at IS NULL AND status IN ('Completed', 'Failed', 'Cancelled')");
    }
}

internal sealed class StagedItemConfiguration : IEntityTypeConfiguration<StagedItem>
{
    public void Configure(EntityTypeBuilder<StagedItem> builder)
    {
        builder.ToTable("staged_items");
        builder.HasKey(x => new { x.RunId, x.Key });
        builder.Property(x => x.Data).HasColumnType("jsonb");
        // Computed by PostgreSQL as the row is written (COPY included), over the jsonb it stored: the hash does not depend
        // on key order or whitespace in data. Promotion compares it with projects.content_hash.
        builder.Property(x => x.ContentHash).HasComputedColumnSql(StagedItem.ContentHashSql, stored: true);
    }
}

internal sealed class StagedBatchConfiguration : IEntityTypeConfiguration<StagedBatch>
{
    public void Configure(EntityTypeBuilder<StagedBatch> builder)
    {
        builder.ToTable("staged_batches");
        builder.HasKey(x => new { x.RunId, x.BatchId });
        builder.Property(x => x.Rejections).HasColumnType("jsonb");
    }
}

internal sealed class FlushRequestConfiguration : IEntityTypeConfiguration<FlushRequest>
{
    public void Configure(EntityTypeBuilder<FlushRequest> builder)
    {
        builder.ToTable("flush_requests");
        builder.HasKey(x => x.RunId);
    }
}

internal sealed class ProjectConfiguration : IEntityTypeConfiguration<Project>
{
    public void Configure(EntityTypeBuilder<Project> builder)
    {
        // The storage table behind the view runsaga.projects (see ProjectState): readers query the view.
        builder.ToTable("project_rows", t => t.HasCheckConstraint("ck_projects_status", "status IN ('ok', 'error')"));
        // The key and index keep the names they had before the table was renamed: renaming a million-row
        // table's primary key would rebuild it for nothing.
        builder.HasKey(x => new { x.Source, x.Key }).HasName("PK_projects");
        builder.Property(x => x.Data).HasColumnType("jsonb");
        builder.Property(x => x.Status).HasMaxLength(8);
        builder.HasIndex(x => x.LastUpdatedByRunId).HasDatabaseName("IX_projects_last_updated_by_run_id");
        builder.Property(x => x.FollowsFullRuns).HasDefaultValue(false);
    }
}

internal sealed class ProjectLineageConfiguration : IEntityTypeConfiguration<ProjectLineage>
{
    public void Configure(EntityTypeBuilder<ProjectLineage> builder)
    {
        builder.ToTable("project_lineage", t => t.HasCheckConstraint(
            "ck_project_lineage_change", "change IN ('created', 'updated', 'errored', 'deleted')"));
        builder.HasKey(x => x.Id);
        builder.Property(x => x.Id).UseIdentityAlwaysColumn();
        builder.Property(x => x.Change).HasMaxLength(8);
        // "History of one item" and "what did run X change".
        builder.HasIndex(x => new { x.Source, x.Key, x.Id });
        builder.HasIndex(x => new { x.RunId, x.Change });
    }
}

internal sealed class RunPromotionConfiguration : IEntityTypeConfiguration<RunPromotion>
{
    public void Configure(EntityTypeBuilder<RunPromotion> builder)
    {
        builder.ToTable("run_promotions");
        builder.HasKey(x => x.RunId);
        builder.Property(x => x.FullRun).HasDefaultValue(false);
        // The newest full run of a source: what an item that follows full runs was last confirmed by.
        builder.HasIndex(x => new { x.Source, x.PromotedAt }).HasFilter("full_run");
    }
}

internal sealed class RunLineageConfiguration : IEntityTypeConfiguration<RunLineage>
{
    public void Configure(EntityTypeBuilder<RunLineage> builder)
    {
        builder.ToTable("run_lineage");
        builder.HasKey(x => x.RunId);
        builder.Property(x => x.BatchIds).HasColumnType("text[]");
    }
}

internal sealed class SourceRetentionConfiguration : IEntityTypeConfiguration<SourceRetention>
{
    public void Configure(EntityTypeBuilder<SourceRetention> builder)
    {
        builder.ToTable("source_retention");
        builder.HasKey(x => x.Source);
    }
}

internal sealed class RetentionCycleConfiguration : IEntityTypeConfiguration<RetentionCycle>
{
    public void Configure(EntityTypeBuilder<RetentionCycle> builder)
    {
        builder.ToTable("retention_cycles", t => t.HasCheckConstraint(
            "ck_retention_cycles_outcome", "outcome IN ('running', 'succeeded', 'skipped', 'withheld', 'failed')"));
        builder.HasKey(x => x.Id);
        builder.Property(x => x.Id).UseIdentityAlwaysColumn();
        builder.Property(x => x.SampleKeys).HasColumnType("text[]");
        builder.HasIndex(x => new { x.Source, x.StartedAt });
    }
}

internal sealed class ScheduleConfiguration : IEntityTypeConfiguration<Schedule>
{
    public void Configure(EntityTypeBuilder<Schedule> builder)
    {
        builder.ToTable("schedules");
        builder.HasKey(x => x.Name);
    }
}

internal sealed class PollLeaseConfiguration : IEntityTypeConfiguration<PollLease>
{
    public void Configure(EntityTypeBuilder<PollLease> builder)
    {
        builder.ToTable("poll_leases");
        builder.HasKey(x => x.Name);
        builder.Property(x => x.Name).HasMaxLength(100);
        builder.Property(x => x.PolledBy).HasMaxLength(200);
    }
}

internal sealed class RunAuditConfiguration : IEntityTypeConfiguration<RunAudit>
{
    public void Configure(EntityTypeBuilder<RunAudit> builder)
    {
        builder.ToTable("run_audit", t => t.HasCheckConstraint("ck_run_audit_action", "action IN ('deleted', 'hard-deleted', 'undeleted', 'trash-purged')"));
        builder.HasKey(x => x.Id);
        builder.Property(x => x.Id).UseIdentityAlwaysColumn();
        builder.Property(x => x.RunRow).HasColumnType("jsonb");
        builder.HasIndex(x => x.RunId);
        builder.HasIndex(x => new { x.Source, x.RecordedAt });
    }
}

internal sealed class ApiAuditConfiguration : IEntityTypeConfiguration<ApiAudit>
{
    public void Configure(EntityTypeBuilder<ApiAudit> builder)
    {
        builder.ToTable("api_audit");
        builder.HasKey(x => x.Id);
        builder.Property(x => x.Id).UseIdentityAlwaysColumn();
        builder.HasIndex(x => x.RecordedAt);
    }
}

internal sealed class RunEventConfiguration : IEntityTypeConfiguration<RunEvent>
{
    public void Configure(EntityTypeBuilder<RunEvent> builder)
    {
        builder.ToTable("run_events");
        builder.HasKey(x => x.Id);
        builder.Property(x => x.Id).UseIdentityAlwaysColumn();
        builder.Property(x => x.RecordedAt).HasDefaultValueSql("clock_timestamp()");
        // A run's history in order, and "was this message recorded before" (duplicates), from one index.
        builder.HasIndex(x => new { x.RunId, x.Id });
    }
}

internal sealed class DeadLetterActionConfiguration : IEntityTypeConfiguration<DeadLetterAction>
{
    public void Configure(EntityTypeBuilder<DeadLetterAction> builder)
    {
        builder.ToTable("dead_letter_actions");
        builder.HasKey(x => x.Id);
        builder.Property(x => x.Id).UseIdentityAlwaysColumn();
        builder.HasIndex(x => x.RecordedAt);
        builder.HasIndex(x => x.RunId);
    }
}

internal sealed class OutboxMessageConfiguration : IEntityTypeConfiguration<OutboxMessage>
{
    public void Configure(EntityTypeBuilder<OutboxMessage> builder)
    {
        builder.ToTable("outbox_messages");
        builder.HasKey(x => x.Sequence);
        builder.Property(x => x.Sequence).UseIdentityAlwaysColumn();
        builder.Property(x => x.Body).HasColumnType("jsonb");
        builder.Property(x => x.MessageType).HasMaxLength(200);
        builder.Property(x => x.Queue).HasMaxLength(200);
        builder.Property(x => x.CreatedAt).HasDefaultValueSql("now()");
    }
}
