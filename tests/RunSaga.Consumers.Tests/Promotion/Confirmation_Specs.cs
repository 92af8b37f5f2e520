using RunSaga.Shared.Data;
using Microsoft.Extensions.Options;
using RunSaga.Consumers.Promotion;
using RunSaga.Consumers.Tests.Infrastructure;
using RunSaga.Shared.Hosting;
using static RunSaga.Consumers.Tests.Infrastructure.Scrape;

namespace RunSaga.Consumers.Tests.Promotion;

/// <summary>
/// How <c>last_confirmed_run_id</c> stays cheap: a full run writes no row it finds unchanged, yet every item's last
/// confirmation (read through <c>runsaga.projects</c>) is exactly the last run that carried it, across full and
/// sync runs, items that go missing and come back.
/// </summary>
public sealed class When_runs_confirm_unchanged_items(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly RunPromoter promoter = new(database.DataSource, Options.Create(new RunSagaOptions()));

    [Fact]
    public async Task Should_not_rewrite_an_unchanged_row_in_a_full_run()
    {
        var source = NewSource();
        var run1 = await Promote(source, full: true, "a", "b");
        var before = await RowVersion(source, "a");

        var run2 = await Promote(source, full: true, "a", "b");

        Assert.Equal(before, await RowVersion(source, "a"));
        Assert.Equal((run1, run2), await Confirmation(source, "a"));
        Assert.Equal(run2, (await database.DataSource.ProjectAsync(source, "b"))!.LastConfirmedRunId);
    }

    [Fact]
    public async Task Should_confirm_each_item_by_the_last_run_that_carried_it()
    {
        var source = NewSource();
        var r1 = await Promote(source, full: true, "a", "b", "c");
        var s2 = await Promote(source, full: false, "a");
        Assert.Equal((s2, r1, r1), await Confirmations(source));

        // c goes missing from a full run: it keeps r1, written down before r3 becomes the source's newest full run.
        var r3 = await Promote(source, full: true, "a", "b");
        Assert.Equal((r3, r3, r1), await Confirmations(source));

        // b goes missing, c comes back.
        var r4 = await Promote(source, full: true, "a", "c");
        Assert.Equal((r4, r3, r4), await Confirmations(source));

        // A sync run confirms what it carries and nothing else; a full run that misses b again changes nothing for it.
        var s5 = await Promote(source, full: false, "b");
        Assert.Equal((r4, s5, r4), await Confirmations(source));
        var r6 = await Promote(source, full: true, "a", "c");
        Assert.Equal((r6, s5, r6), await Confirmations(source));

        // last_seen_at follows the same confirmation.
        var seen = await database.DataSource.ScalarAsync<DateTime>(
            "SELECT last_seen_at FROM runsaga.projects WHERE source = @source AND key = 'a'", ("source", source));
        var promoted = await database.DataSource.ScalarAsync<DateTime>(
            "SELECT promoted_at FROM runsaga.run_promotions WHERE run_id = @run", ("run", r6));
        Assert.Equal(promoted, seen);
    }

    private async Task<Guid> Promote(string source, bool full, params string[] keys)
    {
        var run = await Runs.StageAsync(database.DataSource, ("b1", keys.Select(k => Item(k, title: "same")).ToArray()));
        await promoter.PromoteAsync(run, source, full ? ProcessType.Ingestion : ProcessType.Sync, CancellationToken.None);
        return run;
    }

    private async Task<(Guid, Guid, Guid)> Confirmations(string source) =>
        ((await Confirmation(source, "a")).Confirmed, (await Confirmation(source, "b")).Confirmed, (await Confirmation(source, "c")).Confirmed);

    private async Task<(Guid Created, Guid Confirmed)> Confirmation(string source, string key)
    {
        var row = (await database.DataSource.ProjectAsync(source, key))!;
        return (row.CreatedByRunId, row.LastConfirmedRunId);
    }

    /// <summary>The row version's transaction: unchanged when nothing rewrote the row.</summary>
    private Task<string> RowVersion(string source, string key) => database.DataSource.ScalarAsync<string>(
        "SELECT xmin::text FROM runsaga.project_rows WHERE source = @source AND key = @key", ("source", source), ("key", key));
}
