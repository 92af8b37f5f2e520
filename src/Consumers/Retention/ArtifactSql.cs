namespace RunSaga.Consumers.Retention;

/// <summary>
/// A finished run's artifacts: choosing the runs due for archival and deletion, reading them out, and the
/// writes that follow a verified archive, a deletion or a restore. Every per-run statement runs under
/// <c>AdvisoryLocks.LockRunArtifacts</c> with the run's row locked.
/// </summary>
public static class ArtifactSql
{
    /// <summary>When a finished run finished (a run that never recorded it counts from its creation).</summary>
    private const string FinishedAt = "coalesce(r.completed_at, r.failed_at, r.created_at)";

    private const string DeletionDue = $"""
        ((r.status = 'Completed' AND {FinishedAt} <= @delete_cutoff) OR (r.status IN ('Failed', 'Cancelled') AND {FinishedAt} <= @failed_delete_cutoff))
        """;

    private const string Eligible = """
        r.status IN ('Completed', 'Failed', 'Cancelled') AND r.deleted_at IS NULL
        AND (r.pinned_until IS NULL OR r.pinned_until <= @now)
        AND r.source IS NOT DISTINCT FROM @source
        """;

    /// <summary>
    /// Finished, unpinned runs not archived yet and older than ARCHIVE_AFTER_DAYS, and restored runs (archived
    /// again from the restored rows); not those whose deletion is due anyway. Oldest first.
    /// </summary>
    public const string ArchiveDue = $"""
        SELECT r.id FROM runsaga.runs r
        WHERE {Eligible}
          AND ((r.archived_at IS NULL AND {FinishedAt} <= @archive_cutoff) OR r.restored_at IS NOT NULL)
          AND NOT {DeletionDue}
        ORDER BY {FinishedAt}, r.id
        LIMIT @limit
        """;

    /// <summary>Finished, unpinned, not deleted runs older than DELETE_AFTER_DAYS (FAILED_DELETE_AFTER_DAYS for failed runs).</summary>
    public const string DeleteDue = $"""
        SELECT r.id FROM runsaga.runs r
        WHERE {Eligible} AND {DeletionDue}
        ORDER BY {FinishedAt}, r.id
        LIMIT @limit
        """;

    /// <summary>
    /// Run ids that have staging rows but no row in <c>runs</c> (batches for a run no event ever named), whose last
    /// batch was staged before the deletion cutoff of completed runs. Oldest first.
    /// </summary>
    public const string OrphansDue = """
        SELECT b.run_id FROM runsaga.staged_batches b
        WHERE NOT EXISTS (SELECT 1 FROM runsaga.runs r WHERE r.id = b.run_id)
        GROUP BY b.run_id
        HAVING max(b.staged_at) <= @delete_cutoff
        ORDER BY max(b.staged_at), b.run_id
        LIMIT @limit
        """;

    /// <summary>
    /// The orphan's audit row and deletion, if it is still an orphan that is due (checked under the run lock, so a
    /// batch staged meanwhile keeps it). Returns the number of batches deleted.
    /// </summary>
    public const string DeleteOrphan = """
        WITH orphan AS (
            SELECT b.run_id, min(b.staged_at) AS first_staged, max(b.staged_at) AS last_staged,
                   (SELECT count(*) FROM runsaga.staged_items i WHERE i.run_id = @run)::int AS items
            FROM runsaga.staged_batches b
            WHERE b.run_id = @run AND NOT EXISTS (SELECT 1 FROM runsaga.runs r WHERE r.id = @run)
            GROUP BY b.run_id
            HAVING max(b.staged_at) <= @delete_cutoff
        ),
        audited AS (
            INSERT INTO runsaga.run_audit
                (run_id, status, created_at, finished_at, staged_items, action, reason, requested_by, recorded_at, run_row)
            SELECT o.run_id, 'Unknown', o.first_staged, o.last_staged, o.items, 'deleted', @reason, 'retention', @now,
                   jsonb_build_object('id', o.run_id, 'first_staged_at', o.first_staged, 'last_staged_at', o.last_staged, 'staged_items', o.items)
            FROM orphan o
            RETURNING run_id
        ),
        items AS (
            DELETE FROM runsaga.staged_items i USING audited a WHERE i.run_id = a.run_id
        ),
        history AS (
            DELETE FROM runsaga.run_events e USING audited a WHERE e.run_id = a.run_id
        )
        DELETE FROM runsaga.staged_batches b USING audited a WHERE b.run_id = a.run_id
        """;

    /// <summary>The run's row, locked, with what archival, deletion and restore decide on.</summary>
    public const string LockRunRow = """
        SELECT r.status, r.source, r.folder_name, r.created_at, coalesce(r.completed_at, r.failed_at, r.created_at),
               r.archived_at, r.archive_path, r.archive_sha256, r.pinned_until, r.restored_at, r.deleted_at, r.deletion_reason,
               row_to_json(r)::text
        FROM runsaga.runs r WHERE r.id = @run
        FOR UPDATE
        """;

    /// <summary>Whether another run's archive already has this file name.</summary>
    public const string PathTaken = "SELECT EXISTS (SELECT 1 FROM runsaga.runs WHERE archive_path = @path AND id <> @run)";

    /// <summary>The staged items, one JSON line each, in key order (what <c>items.jsonl</c> holds).</summary>
    public const string ItemLines = """
        SELECT row_to_json(s)::text FROM runsaga.staged_items s WHERE s.run_id = @run ORDER BY s.key COLLATE "C"
        """;

    public const string BatchLines = """
        SELECT row_to_json(b)::text FROM runsaga.staged_batches b WHERE b.run_id = @run ORDER BY b.batch_id COLLATE "C"
        """;

    /// <summary>After the archive file is written, flushed and read back: record it, then empty the run's staging.</summary>
    public const string MarkArchived = """
        UPDATE runsaga.runs
        SET archived_at = @now, archive_path = @path, archive_sha256 = @sha256, restored_at = NULL, version = version + 1
        WHERE id = @run;
        DELETE FROM runsaga.staged_items WHERE run_id = @run;
        DELETE FROM runsaga.staged_batches WHERE run_id = @run;
        INSERT INTO runsaga.run_events (run_id, actor, event, outcome, summary)
        VALUES (@run, 'retention', 'Archived', 'changed', 'staging archived to ' || @path || '; staged rows removed');
        """;

    /// <summary>
    /// The audit row, from the run's row as it is before the deletion. <c>requested_by</c> is who the command says asked
    /// (the API puts the calling key's name there); <c>published_by</c> the broker user RabbitMQ vouches published it.
    /// </summary>
    public const string Audit = """
        INSERT INTO runsaga.run_audit
            (run_id, source, folder_name, process_type, status, created_at, finished_at, archived_at, archive_path,
             staged_items, inserted, updated, unchanged, errored, error_code, action, reason, requested_by, published_by, recorded_at, run_row)
        SELECT r.id, r.source, r.folder_name, r.process_type, r.status, r.created_at, coalesce(r.completed_at, r.failed_at),
               r.archived_at, r.archive_path, r.staged_items, r.inserted, r.updated, r.unchanged, r.errored, r.error_code,
               @action, @reason, @requested_by, @published_by::text, @now, to_jsonb(r)
        FROM runsaga.runs r WHERE r.id = @run
        """;

    public const string SoftDelete = """
        DELETE FROM runsaga.staged_items WHERE run_id = @run;
        DELETE FROM runsaga.staged_batches WHERE run_id = @run;
        UPDATE runsaga.runs
        SET deleted_at = @now, deletion_reason = @reason, archive_path = NULL, archive_sha256 = NULL, restored_at = NULL,
            pinned_until = NULL, version = version + 1
        WHERE id = @run;
        INSERT INTO runsaga.run_events (run_id, actor, event, outcome, summary)
        VALUES (@run, 'retention', 'Deleted', 'changed', 'artifacts deleted: ' || @reason);
        """;

    /// <summary>The archive a soft-deleted run had: its newest <c>deleted</c> audit row (the row as it was, with its SHA-256).</summary>
    /// <remarks>The third column says the trash was purged since (the file is gone for good).</remarks>
    public const string DeletedArchive = """
        SELECT a.archive_path, a.run_row->>'archive_sha256',
               EXISTS (SELECT 1 FROM runsaga.run_audit p WHERE p.run_id = a.run_id AND p.action = 'trash-purged' AND p.id > a.id)
        FROM runsaga.run_audit a
        WHERE a.run_id = @run AND a.action = 'deleted'
        ORDER BY a.id DESC
        LIMIT 1
        """;

    /// <summary>
    /// Whether a soft-deleted run is still deleted (after its deletion committed, under its artifact lock): only then
    /// does its file go into the trash, or out of it for good; an undeletion in between keeps the file where it is.
    /// </summary>
    public const string StillDeleted = """
        SELECT deleted_at IS NOT NULL FROM runsaga.runs WHERE id = @run
        """;

    /// <summary>
    /// A soft-deleted run back: archived again under its old file (RestoreRun brings the items back), and pinned for
    /// DELETE_AFTER_DAYS (<c>@pinned_until</c>) so the next cycle does not delete it again at once.
    /// </summary>
    public const string Undelete = """
        UPDATE runsaga.runs
        SET deleted_at = NULL, deletion_reason = NULL, archive_path = @path, archive_sha256 = @sha256,
            pinned_until = @pinned_until, version = version + 1
        WHERE id = @run;
        INSERT INTO runsaga.run_events (run_id, actor, event, outcome, summary)
        VALUES (@run, 'retention', 'Undeleted', 'changed', 'back from the trash as ' || @path || '; pinned until ' || to_char(@pinned_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC');
        """;

    /// <summary>
    /// Soft-deleted runs of the source whose archive has been in the trash longer than TRASH_KEEP_DAYS and was not purged
    /// yet: the run's id and its archive's relative path.
    /// </summary>
    public const string TrashDue = """
        SELECT DISTINCT ON (a.run_id) a.run_id, a.archive_path
        FROM runsaga.run_audit a
        JOIN runsaga.runs r ON r.id = a.run_id
        WHERE a.action = 'deleted' AND a.archive_path IS NOT NULL AND r.deleted_at IS NOT NULL
          AND r.deleted_at <= @trash_cutoff AND r.source IS NOT DISTINCT FROM @source
          AND NOT EXISTS (
              SELECT 1 FROM runsaga.run_audit p
              WHERE p.run_id = a.run_id AND p.action = 'trash-purged' AND p.recorded_at >= r.deleted_at)
        ORDER BY a.run_id, a.id DESC
        LIMIT @limit
        """;

    /// <summary>
    /// The <c>trash-purged</c> audit row, unless another cycle wrote it first (call under the run's artifact lock):
    /// one row inserted means this cycle purges the file.
    /// </summary>
    public const string AuditTrashPurge = $$"""
        {{Audit}}
          AND r.deleted_at IS NOT NULL AND r.deleted_at <= @trash_cutoff
          AND NOT EXISTS (
              SELECT 1 FROM runsaga.run_audit p
              WHERE p.run_id = r.id AND p.action = 'trash-purged' AND p.recorded_at >= r.deleted_at)
        """;

    public const string HardDelete = """
        DELETE FROM runsaga.staged_items WHERE run_id = @run;
        DELETE FROM runsaga.staged_batches WHERE run_id = @run;
        DELETE FROM runsaga.flush_requests WHERE run_id = @run;
        DELETE FROM runsaga.run_events WHERE run_id = @run;
        DELETE FROM runsaga.runs WHERE id = @run;
        """;

    /// <summary>A session-local table the archive's lines are copied into before they go back to staging.</summary>
    public const string CreateRestoreTable = """
        CREATE TEMP TABLE restore_lines (entry text NOT NULL, line text NOT NULL) ON COMMIT DROP
        """;

    public const string CopyRestoreLines = "COPY restore_lines (entry, line) FROM STDIN (FORMAT BINARY)";

    /// <summary>
    /// The lines back into staging, column for column (a row already there is left as it is); <c>content_hash</c> is
    /// generated again from the same fields. The record is built in a lateral join: <c>(json_populate_record(…)).*</c>
    /// would call it once per column.
    /// </summary>
    public const string RestoreRows = """
        INSERT INTO runsaga.staged_items (run_id, key, batch_id, title, url, data, error, staged_at)
        SELECT r.run_id, r.key, r.batch_id, r.title, r.url, r.data, r.error, r.staged_at
        FROM restore_lines l CROSS JOIN LATERAL json_populate_record(NULL::runsaga.staged_items, l.line::json) r
        WHERE l.entry = 'items'
        ON CONFLICT (run_id, key) DO NOTHING;
        INSERT INTO runsaga.staged_batches
        SELECT r.* FROM restore_lines l CROSS JOIN LATERAL json_populate_record(NULL::runsaga.staged_batches, l.line::json) r
        WHERE l.entry = 'batches'
        ON CONFLICT (run_id, batch_id) DO NOTHING;
        UPDATE runsaga.runs SET restored_at = @now, version = version + 1 WHERE id = @run;
        INSERT INTO runsaga.run_events (run_id, actor, event, outcome, summary)
        VALUES (@run, 'retention', 'Restored', 'changed', 'staging restored from the archive, read-only');
        """;

    public const string Pin = """
        UPDATE runsaga.runs SET pinned_until = @until, version = version + 1 WHERE id = @run RETURNING source
        """;
}
