namespace RunSaga.Shared.Data;

/// <summary>
/// Every item's current state with its effective lineage: the view <c>runsaga.project_state</c>, what the API,
/// retention and anyone querying by hand read.
/// <para>
/// <c>projects</c> keeps a row's confirmation (<c>confirmed_run_id</c>, <c>confirmed_at</c>) as of the last time the
/// row was written. A full run (ingestion, manual_reindex) carries every item of its source, so it does not write the
/// items it finds unchanged: they keep <c>follows_full_runs</c>, which says "every full run promoted since my
/// confirmation carried me". Their last confirmation is then the source's newest full run, when that was promoted
/// after the row's own confirmation. A full run that leaves an item out writes the item's confirmation down first and
/// clears the flag. A sync run writes the confirmation of every item it carries.
/// </para>
/// </summary>
public static class ProjectState
{
    /// <summary>
    /// The CTE <c>latest_full</c>: the newest full run promoted for the source <c>@source</c>, as <c>(run_id,
    /// promoted_at)</c>; no row when there is none yet. Promotion and retention read it.
    /// </summary>
    public const string LatestFullRun = """
        latest_full AS (
            SELECT rp.run_id, rp.promoted_at
            FROM runsaga.run_promotions rp
            WHERE rp.source = @source AND rp.full_run
            ORDER BY rp.promoted_at DESC
            LIMIT 1
        )
        """;

    public const string CreateView = """
        CREATE VIEW runsaga.project_state AS
        SELECT p.source, p.key, p.title, p.url, p.data, p.content_hash, p.status, p.error,
               p.created_by_run_id, p.last_updated_by_run_id,
               CASE WHEN i.by_full_run THEN f.run_id ELSE p.confirmed_run_id END AS last_confirmed_run_id,
               p.batch_id, p.first_seen_at,
               CASE WHEN i.by_full_run THEN f.promoted_at ELSE p.confirmed_at END AS last_seen_at,
               p.updated_at
        FROM runsaga.projects p
        LEFT JOIN runsaga.run_promotions e ON e.run_id = p.confirmed_run_id
        LEFT JOIN LATERAL (
            SELECT rp.run_id, rp.promoted_at
            FROM runsaga.run_promotions rp
            WHERE rp.source = p.source AND rp.full_run
            ORDER BY rp.promoted_at DESC
            LIMIT 1
        ) f ON p.follows_full_runs
        CROSS JOIN LATERAL (
            SELECT f.run_id IS NOT NULL AND f.promoted_at > coalesce(e.promoted_at, '-infinity') AS by_full_run
        ) i
        """;

    public const string DropView = "DROP VIEW IF EXISTS runsaga.project_state";
}
