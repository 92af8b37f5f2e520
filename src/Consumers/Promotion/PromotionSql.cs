namespace RunSaga.Consumers.Promotion;

/// <summary>
/// Promoting a run's staged items into <c>projects</c>. Runs in one transaction after
/// <c>AdvisoryLocks.LockSource</c>, so promotions of one source never interleave.
/// </summary>
public static class PromotionSql
{
    /// <summary>The recorded counts of a run promoted before (the idempotency check).</summary>
    public const string RecordedCounts = """
        SELECT inserted, updated, unchanged, errored
        FROM runsaga.run_promotions
        WHERE run_id = @run
        """;

    /// <summary>How many keys the run staged (one row per batch, no scan of the items).</summary>
    public const string StagedCount = """
        SELECT coalesce(sum(staged_count), 0)::bigint FROM runsaga.staged_batches WHERE run_id = @run
        """;

    /// <summary>
    /// Fresh planner statistics for a large run. Staging a big run moments before its promotion leaves the
    /// statistics describing the tables without it; a plan built on them (nested loops over what is really a
    /// million rows) ran for many minutes here where the hash-join plan takes seconds. Run outside the
    /// promotion's transaction, so the lock ANALYZE takes is held only while it samples.
    /// </summary>
    public const string RefreshStatistics = "ANALYZE runsaga.staged_items, runsaga.projects";

    /// <summary>From how many staged keys a run gets fresh statistics before its promotion.</summary>
    public const long LargeRun = 50_000;

    /// <summary>
    /// The whole promotion, one statement. Each staged item is classified against the current row of its key:
    /// <list type="bullet">
    /// <item><c>errored</c>: the item carries an error (unless the row already has status error with the same
    /// error: then <c>unchanged</c>). An existing row keeps its content, hash and batch; a new key is inserted with
    /// its own content and status error.</item>
    /// <item><c>created</c>: no row for the key yet.</item>
    /// <item><c>unchanged</c>: the row is ok with the same content hash.</item>
    /// <item><c>updated</c>: anything else (new content, or a row in error that is ok again).</item>
    /// </list>
    /// Changed rows get <c>last_updated_by_run_id</c> and <c>updated_at</c>; every row of the run gets
    /// <c>last_confirmed_run_id</c> and <c>last_seen_at</c>. Each change is appended to <c>project_lineage</c>
    /// and the counts to <c>run_promotions</c> in the same statement, so no changed item is ever without its
    /// lineage row. The data-modifying CTEs all run to completion; all read the snapshot before any of them.
    /// <c>promoted_at</c> is <c>clock_timestamp()</c>, read after the source lock was granted: it orders the promotions
    /// of a source as they were applied (retention relies on that order). <c>now()</c> would be the transaction's
    /// start, which can come before the lock is granted to another promotion that started a moment later.
    /// </summary>
    public const string Promote = """
        WITH classified AS (
            SELECT s.key, s.batch_id, s.title, s.url, s.data, s.error, s.content_hash,
                   p.key IS NOT NULL AS existed,
                   p.content_hash AS old_hash,
                   CASE
                       WHEN s.error IS NOT NULL THEN
                           CASE WHEN p.key IS NOT NULL AND p.status = 'error' AND p.error IS NOT DISTINCT FROM s.error
                                THEN 'unchanged' ELSE 'errored' END
                       WHEN p.key IS NULL THEN 'created'
                       WHEN p.status = 'ok' AND p.content_hash = s.content_hash THEN 'unchanged'
                       ELSE 'updated'
                   END AS change
            FROM runsaga.staged_items s
            LEFT JOIN runsaga.projects p ON p.source = @source AND p.key = s.key
            WHERE s.run_id = @run
        ),
        inserted AS (
            INSERT INTO runsaga.projects
                (source, key, title, url, data, content_hash, status, error,
                 created_by_run_id, last_updated_by_run_id, last_confirmed_run_id, batch_id,
                 first_seen_at, last_seen_at, updated_at)
            SELECT @source, c.key, c.title, c.url, c.data, c.content_hash,
                   CASE WHEN c.error IS NULL THEN 'ok' ELSE 'error' END, c.error,
                   @run, @run, @run, c.batch_id,
                   now(), now(), now()
            FROM classified c
            WHERE NOT c.existed
            ORDER BY c.key
            RETURNING 1
        ),
        updated AS (
            UPDATE runsaga.projects p SET
                title = CASE WHEN c.change = 'updated' THEN c.title ELSE p.title END,
                url = CASE WHEN c.change = 'updated' THEN c.url ELSE p.url END,
                data = CASE WHEN c.change = 'updated' THEN c.data ELSE p.data END,
                content_hash = CASE WHEN c.change = 'updated' THEN c.content_hash ELSE p.content_hash END,
                batch_id = CASE WHEN c.change = 'updated' THEN c.batch_id ELSE p.batch_id END,
                status = CASE c.change WHEN 'updated' THEN 'ok' WHEN 'errored' THEN 'error' ELSE p.status END,
                error = CASE c.change WHEN 'updated' THEN NULL WHEN 'errored' THEN c.error ELSE p.error END,
                last_updated_by_run_id = CASE WHEN c.change IN ('updated', 'errored') THEN @run ELSE p.last_updated_by_run_id END,
                updated_at = CASE WHEN c.change IN ('updated', 'errored') THEN now() ELSE p.updated_at END,
                last_confirmed_run_id = @run,
                last_seen_at = now()
            FROM classified c
            WHERE p.source = @source AND p.key = c.key AND c.existed
            RETURNING 1
        ),
        lineage AS (
            INSERT INTO runsaga.project_lineage (source, key, run_id, batch_id, change, content_hash, recorded_at)
            SELECT @source, c.key, @run, c.batch_id, c.change,
                   CASE WHEN c.change = 'errored' AND c.existed THEN c.old_hash ELSE c.content_hash END,
                   now()
            FROM classified c
            WHERE c.change <> 'unchanged'
            ORDER BY c.key
            RETURNING 1
        ),
        counts AS (
            SELECT count(*) FILTER (WHERE change = 'created')::int AS inserted,
                   count(*) FILTER (WHERE change = 'updated')::int AS updated,
                   count(*) FILTER (WHERE change = 'unchanged' AND error IS NULL)::int AS unchanged,
                   count(*) FILTER (WHERE error IS NOT NULL)::int AS errored
            FROM classified
        ),
        recorded AS (
            INSERT INTO runsaga.run_promotions (run_id, source, inserted, updated, unchanged, errored, promoted_at)
            SELECT @run, @source, inserted, updated, unchanged, errored, clock_timestamp()
            FROM counts
            RETURNING 1
        )
        SELECT inserted, updated, unchanged, errored FROM counts
        """;
}
