using RunSaga.Shared.Data;

namespace RunSaga.Consumers.Promotion;

/// <summary>
/// Promoting a run's staged items into <c>projects</c> (the storage table <c>project_rows</c>, see <c>ProjectState</c>). Runs in one transaction after
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

    /// <summary>A row when the run was cancelled: it must not be promoted.</summary>
    public const string Cancelled = """
        SELECT 1 FROM runsaga.runs WHERE id = @run AND status = 'Cancelled'
        """;

    /// <summary>How many keys the run staged (one row per batch, no scan of the items).</summary>
    public const string StagedCount = """
        SELECT coalesce(sum(staged_count), 0)::bigint FROM runsaga.staged_batches WHERE run_id = @run
        """;

    /// <summary>
    /// Fresh planner statistics for a large run. Staging a big run moments before its promotion leaves the
    /// statistics describing the tables without it; a plan built on them (nested loops over what is really a
    /// million rows) ran for many minutes here where the hash-join plan takes seconds. Run outside the
    /// promotion's transaction, so the lock ANALYZE takes is held only while it samples. Through a SECURITY DEFINER
    /// function (migration PromotionStatisticsFunction): ANALYZE needs the tables' owner, and the hosts' role is not.
    /// </summary>
    public const string RefreshStatistics = "SELECT runsaga.refresh_promotion_statistics()";

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
    /// Changed rows get <c>last_updated_by_run_id</c> and <c>updated_at</c>. Confirmation (see <c>ProjectState</c>):
    /// every row the statement writes gets <c>confirmed_run_id</c>, <c>confirmed_at</c> (the run's <c>promoted_at</c>) and
    /// <c>follows_full_runs</c>;
    /// a full run (<c>@full</c>) does not write an unchanged row that already follows full runs (recording the run in
    /// <c>run_promotions</c> as full confirms it), and first writes down the confirmation of every row of the source
    /// that follows full runs but is not in this run (<c>detached</c>). A sync run writes every row it carries.
    /// One full join of the run's staged items with the source's rows finds both: the staged items with their current
    /// rows, and (<c>missing</c>) the rows the run did not carry.
    /// Each change is appended to <c>project_lineage</c> and the counts to <c>run_promotions</c> in the same
    /// statement, so no changed item is ever without its lineage row. The data-modifying CTEs all run to completion
    /// and all read the snapshot before any of them (<c>detached</c> and <c>updated</c> write disjoint rows).
    /// <c>promoted_at</c> is <c>clock_timestamp()</c>, read once (<c>stamp</c>) after the source lock was granted: it
    /// orders the promotions of a source as they were applied (retention and the view <c>projects</c> rely on that order).
    /// <c>now()</c> would be the transaction's start, which can come before the lock is granted to another promotion
    /// that started a moment later. (The crash tests find the statement in <c>pg_stat_activity</c> by its opening,
    /// <c>WITH stamp AS (</c>.)
    /// </summary>
    public const string Promote = $$"""
        WITH stamp AS (
            SELECT clock_timestamp() AS at
        ),
        classified AS (
            SELECT coalesce(s.key, p.key) AS key,
                   s.key IS NOT NULL AS staged,
                   s.batch_id, s.title, s.url, s.data, s.error, s.content_hash,
                   p.key IS NOT NULL AS existed,
                   p.content_hash AS old_hash,
                   p.confirmed_at AS old_confirmed_at,
                   coalesce(p.follows_full_runs, false) AS follows,
                   CASE
                       WHEN s.key IS NULL THEN 'missing'
                       WHEN s.error IS NOT NULL THEN
                           CASE WHEN p.key IS NOT NULL AND p.status = 'error' AND p.error IS NOT DISTINCT FROM s.error
                                THEN 'unchanged' ELSE 'errored' END
                       WHEN p.key IS NULL THEN 'created'
                       WHEN p.status = 'ok' AND p.content_hash = s.content_hash THEN 'unchanged'
                       ELSE 'updated'
                   END AS change
            FROM (SELECT * FROM runsaga.staged_items WHERE run_id = @run) s
            FULL JOIN (
                SELECT key, content_hash, status, error, confirmed_at, follows_full_runs
                FROM runsaga.project_rows
                WHERE source = @source
            ) p ON p.key = s.key
        ),
        {{ProjectState.LatestFullRun}},
        detached AS (
            UPDATE runsaga.project_rows p SET
                confirmed_run_id = CASE WHEN d.by_full_run THEN d.full_run_id ELSE p.confirmed_run_id END,
                confirmed_at = CASE WHEN d.by_full_run THEN d.full_promoted_at ELSE p.confirmed_at END,
                follows_full_runs = false
            FROM (
                SELECT c.key,
                       lf.run_id AS full_run_id,
                       lf.promoted_at AS full_promoted_at,
                       coalesce(lf.promoted_at > c.old_confirmed_at, false) AS by_full_run
                FROM classified c
                LEFT JOIN latest_full lf ON true
                WHERE @full AND NOT c.staged AND c.follows
            ) d
            WHERE p.source = @source AND p.key = d.key
            RETURNING 1
        ),
        inserted AS (
            INSERT INTO runsaga.project_rows
                (source, key, title, url, data, content_hash, status, error,
                 created_by_run_id, last_updated_by_run_id, confirmed_run_id, batch_id,
                 first_seen_at, confirmed_at, follows_full_runs, updated_at)
            SELECT @source, c.key, c.title, c.url, c.data, c.content_hash,
                   CASE WHEN c.error IS NULL THEN 'ok' ELSE 'error' END, c.error,
                   @run, @run, @run, c.batch_id,
                   now(), (SELECT at FROM stamp), true, now()
            FROM classified c
            WHERE c.staged AND NOT c.existed
            ORDER BY c.key
            RETURNING 1
        ),
        updated AS (
            UPDATE runsaga.project_rows p SET
                title = CASE WHEN c.change = 'updated' THEN c.title ELSE p.title END,
                url = CASE WHEN c.change = 'updated' THEN c.url ELSE p.url END,
                data = CASE WHEN c.change = 'updated' THEN c.data ELSE p.data END,
                content_hash = CASE WHEN c.change = 'updated' THEN c.content_hash ELSE p.content_hash END,
                batch_id = CASE WHEN c.change = 'updated' THEN c.batch_id ELSE p.batch_id END,
                status = CASE c.change WHEN 'updated' THEN 'ok' WHEN 'errored' THEN 'error' ELSE p.status END,
                error = CASE c.change WHEN 'updated' THEN NULL WHEN 'errored' THEN c.error ELSE p.error END,
                last_updated_by_run_id = CASE WHEN c.change IN ('updated', 'errored') THEN @run ELSE p.last_updated_by_run_id END,
                updated_at = CASE WHEN c.change IN ('updated', 'errored') THEN now() ELSE p.updated_at END,
                confirmed_run_id = @run,
                confirmed_at = (SELECT at FROM stamp),
                follows_full_runs = true
            FROM classified c
            WHERE p.source = @source AND p.key = c.key AND c.staged AND c.existed
              AND (c.change <> 'unchanged' OR NOT @full OR NOT c.follows)
            RETURNING 1
        ),
        lineage AS (
            INSERT INTO runsaga.project_lineage (source, key, run_id, batch_id, change, content_hash, recorded_at)
            SELECT @source, c.key, @run, c.batch_id, c.change,
                   CASE WHEN c.change = 'errored' AND c.existed THEN c.old_hash ELSE c.content_hash END,
                   now()
            FROM classified c
            WHERE c.staged AND c.change <> 'unchanged'
            ORDER BY c.key
            RETURNING 1
        ),
        counts AS (
            SELECT count(*) FILTER (WHERE change = 'created')::int AS inserted,
                   count(*) FILTER (WHERE change = 'updated')::int AS updated,
                   count(*) FILTER (WHERE change = 'unchanged' AND error IS NULL)::int AS unchanged,
                   count(*) FILTER (WHERE error IS NOT NULL)::int AS errored
            FROM classified
            WHERE staged
        ),
        recorded AS (
            INSERT INTO runsaga.run_promotions (run_id, source, inserted, updated, unchanged, errored, promoted_at, full_run)
            SELECT @run, @source, inserted, updated, unchanged, errored, (SELECT at FROM stamp), @full
            FROM counts
            RETURNING 1
        )
        SELECT inserted, updated, unchanged, errored FROM counts
        """;
}
