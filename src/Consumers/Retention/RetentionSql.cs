using RunSaga.Shared.Data;

namespace RunSaga.Consumers.Retention;

/// <summary>
/// Pruning stale items. Every statement of a cycle runs in one transaction after <c>AdvisoryLocks.LockSource</c>,
/// so retention and promotion of one source never interleave.
/// </summary>
public static class RetentionSql
{
    /// <summary>Opens a cycle's record before any work, so even a cycle that fails leaves a trace.</summary>
    public const string StartCycle = """
        INSERT INTO runsaga.retention_cycles
            (source, trigger, run_id, dry_run, started_at, outcome, projects_deleted, runs_archived, runs_deleted, sample_keys, requested_by, published_by)
        VALUES (@source, @trigger, @run, @dry_run, @now, 'running', 0, 0, 0, '{}', @requested_by, @published_by)
        RETURNING id
        """;

    public const string FinishCycle = """
        UPDATE runsaga.retention_cycles
        SET finished_at = @now, outcome = @outcome, projects_deleted = @deleted, runs_archived = @archived, runs_deleted = @runs_deleted,
            reason = @reason, error = @error,
            sample_keys = @sample_keys, run_id = coalesce(@run, run_id)
        WHERE id = @id
        """;

    /// <summary>
    /// The newest run of the source, whatever its type: pruning waits while it is open or after it failed or was
    /// cancelled. A duplicate run id (a request that repeated a held idempotency key) is not a run and does not count.
    /// </summary>
    public const string LatestRun = """
        SELECT id, status FROM runsaga.runs WHERE source = @source AND duplicate_of IS NULL ORDER BY created_at DESC, id LIMIT 1
        """;

    /// <summary>
    /// The source's completed full runs, newest promotion first (promotions of a source are serialized). Read from
    /// <c>run_promotions</c>, which deletion never removes: a run whose row hard deletion removed still counts towards
    /// KEEP_RUNS, with its staged items as promoted (every staged item is counted once as inserted, updated, unchanged
    /// or errored). A promoted run whose row remains counts once it is Completed.
    /// </summary>
    public const string CompletedFullRuns = """
        SELECT rp.run_id, coalesce(r.staged_items, rp.inserted + rp.updated + rp.unchanged + rp.errored), rp.promoted_at
        FROM runsaga.run_promotions rp
        LEFT JOIN runsaga.runs r ON r.id = rp.run_id
        WHERE rp.source = @source AND rp.full_run AND (r.id IS NULL OR r.status = 'Completed')
        ORDER BY rp.promoted_at DESC, rp.run_id
        """;

    public const string SourceStanding = """
        SELECT withheld, released_at, withheld_by_run_id FROM runsaga.source_retention WHERE source = @source
        """;

    /// <summary>Withholds retention for the source (kept until released) and marks the suspicious run.</summary>
    public const string Withhold = """
        INSERT INTO runsaga.source_retention (source, withheld, withheld_by_run_id, withheld_at, withheld_reason)
        VALUES (@source, true, @run, @now, @reason)
        ON CONFLICT (source) DO UPDATE SET
            withheld = true, withheld_by_run_id = excluded.withheld_by_run_id,
            withheld_at = excluded.withheld_at, withheld_reason = excluded.withheld_reason;
        UPDATE runsaga.runs SET retention_withheld = true, version = version + 1
        WHERE id = @run AND NOT retention_withheld;
        """;

    /// <summary>
    /// Runs promoted before the release stop withholding. The release time comes from the database's clock,
    /// read after the source lock, because it is compared with <c>run_promotions.promoted_at</c>.
    /// </summary>
    public const string Release = """
        INSERT INTO runsaga.source_retention (source, withheld, released_at, released_by)
        VALUES (@source, false, clock_timestamp(), @released_by)
        ON CONFLICT (source) DO UPDATE SET withheld = false, released_at = excluded.released_at, released_by = excluded.released_by
        """;

    /// <summary>
    /// The promotion time of each item's last confirmation (see <c>ProjectState</c>): its own confirmation's, or the
    /// source's newest full run's when the item follows full runs and that run was promoted later.
    /// </summary>
    private const string Confirmations = $$"""
        {{ProjectState.LatestFullRun}},
        confirmed AS (
            SELECT p.key,
                   CASE WHEN p.follows_full_runs AND lf.promoted_at > p.confirmed_at
                        THEN lf.promoted_at ELSE p.confirmed_at END AS promoted_at
            FROM runsaga.project_rows p
            LEFT JOIN latest_full lf ON true
            WHERE p.source = @source
        )
        """;

    /// <summary>
    /// Stale: the last run that saw the item (any type; a sync run seeing it keeps it) was promoted before the
    /// oldest of the last KEEP_RUNS completed full runs (<c>@cutoff</c>). Counted, with the first keys, for a dry run.
    /// </summary>
    public const string CountStale = $$"""
        WITH {{Confirmations}}
        SELECT count(*)::int, coalesce((array_agg(c.key ORDER BY c.key COLLATE "C"))[1:20], '{}')
        FROM confirmed c
        WHERE c.promoted_at < @cutoff
        """;

    /// <summary>The same set, deleted, each with a <c>deleted</c> lineage row naming the run that applied retention.</summary>
    public const string DeleteStale = $$"""
        WITH {{Confirmations}},
        deleted AS (
            DELETE FROM runsaga.project_rows p
            USING confirmed c
            WHERE p.source = @source AND p.key = c.key AND c.promoted_at < @cutoff
            RETURNING p.key, p.content_hash
        ),
        logged AS (
            INSERT INTO runsaga.project_lineage (source, key, run_id, batch_id, change, content_hash, recorded_at)
            SELECT @source, d.key, @run, NULL, 'deleted', d.content_hash, @now
            FROM deleted d
            ORDER BY d.key
            RETURNING 1
        )
        SELECT count(*)::int, coalesce((array_agg(d.key ORDER BY d.key COLLATE "C"))[1:20], '{}') FROM deleted d
        """;

    /// <summary>
    /// The run that applied a cycle counts what it deleted in its lineage summary (seed 004's per-run <c>deleted</c>):
    /// the summary was stamped before retention ran, so it is recounted from <c>project_lineage</c> in the cycle's
    /// transaction. Retention is <c>run_lineage</c>'s second writer, for this column only.
    /// </summary>
    public const string RecountDeleted = """
        UPDATE runsaga.run_lineage
        SET deleted = (SELECT count(*)::int FROM runsaga.project_lineage WHERE run_id = @run AND change = 'deleted')
        WHERE run_id = @run
        """;

    /// <summary>
    /// Every source with a run, and null when some run never got a source: what a cycle without a source goes
    /// through (pruning skips sources without a completed run; their runs' artifacts still age).
    /// </summary>
    public const string Sources = """
        SELECT DISTINCT source FROM runsaga.runs ORDER BY source NULLS LAST
        """;
}
