namespace RunSaga.Shared.Data;

/// <summary>
/// Every item's current state with its effective lineage: the view <c>runsaga.projects</c> (created by the migration
/// <c>ProjectsView</c>; <c>runsaga.project_state</c> is the same view under the name it had before), what the API,
/// dashboards and anyone querying by hand read; promotion and retention apply the same rule to the storage table.
/// <para>
/// The storage table <c>runsaga.project_rows</c> keeps a row's confirmation (<c>confirmed_run_id</c>, and
/// <c>confirmed_at</c>, which is that run's <c>run_promotions.promoted_at</c>) as of the last time the row was written.
/// A full run (ingestion, manual_reindex) carries every item of its source, so it does not write the items it finds
/// unchanged: they keep <c>follows_full_runs</c>, which says "every full run promoted since my confirmation carried
/// me". Their last confirmation is then the source's newest full run, when that was promoted after
/// <c>confirmed_at</c>. A full run that leaves an item out writes the item's confirmation down first and clears the
/// flag. A sync run writes the confirmation of every item it carries. So <c>project_rows.confirmed_run_id</c> is
/// stale for an unchanged item by design: read <c>projects.last_confirmed_run_id</c>.
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
}
