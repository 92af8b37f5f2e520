namespace RunSaga.Shared.Data;

/// <summary>
/// Every item's current state with its effective lineage: the view <c>runsaga.project_state</c> (created by the
/// migration <c>FullRunConfirmations</c>), what the API and anyone querying by hand read; retention applies the same rule.
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
}
