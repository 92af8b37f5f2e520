using RunSaga.Shared.Data;
using Microsoft.Extensions.Options;
using RunSaga.Shared.Hosting;
using RunSaga.Consumers.Lineage;
using RunSaga.Consumers.Promotion;
using RunSaga.Consumers.Tests.Infrastructure;
using static RunSaga.Consumers.Tests.Infrastructure.Scrape;

namespace RunSaga.Consumers.Tests.Lineage;

public sealed class When_a_promoted_run_is_stamped(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly RunPromoter promoter = new(database.DataSource, Options.Create(new RunSagaOptions()));
    private readonly LineageStamper stamper = new(database.DataSource, Options.Create(new RunSagaOptions()));

    [Fact]
    public async Task Should_record_what_the_run_changed_and_from_which_batches_in_the_promotions_transaction()
    {
        var source = NewSource();
        var run1 = await Runs.StageAsync(database.DataSource, ("b1", [Item("same"), Item("changed", title: "old"), Item("breaks")]));
        await promoter.PromoteAsync(run1, source, ProcessType.Ingestion, CancellationToken.None);
        var run2 = await Runs.StageAsync(database.DataSource,
            ("b2", [Item("same"), Item("changed", title: "new")]),
            ("B1", [Item("breaks", error: "timeout")]),
            ("b10", [Item("new"), Item(null)]));
        await promoter.PromoteAsync(run2, source, ProcessType.Sync, CancellationToken.None);

        // The promotion recorded the summary; StampLineage (from an older saga, or a resend) finds it and changes nothing.
        var summary = await stamper.StampAsync(run2, source, "ingestion", CancellationToken.None);

        Assert.True(summary.AlreadyStamped);
        Assert.Equal((1, 1, 0, 1, 1), (summary.Discovered, summary.Updated, summary.Deleted, summary.Errored, summary.Unchanged));
        Assert.Equal(["B1", "b10", "b2"], summary.BatchIds);
        Assert.Equal("sync", await database.DataSource.ScalarAsync<string>(
            "SELECT process_type FROM runsaga.run_lineage WHERE run_id = @run", ("run", run2)));
        Assert.Equal(source, await database.DataSource.ScalarAsync<string>(
            "SELECT source FROM runsaga.run_lineage WHERE run_id = @run", ("run", run2)));
    }

    [Fact]
    public async Task Should_stamp_a_run_promoted_without_its_summary_once_however_often_it_is_asked()
    {
        var (source, run) = await PromotedWithoutItsSummary();

        var first = await stamper.StampAsync(run, source, "ingestion", CancellationToken.None);
        var again = await stamper.StampAsync(run, source, "manual_reindex", CancellationToken.None);

        Assert.False(first.AlreadyStamped);
        Assert.Equal((2, 0, 0, 0, 0), (first.Discovered, first.Updated, first.Deleted, first.Errored, first.Unchanged));
        Assert.True(again.AlreadyStamped);
        Assert.Equal(first with { AlreadyStamped = true, BatchIds = again.BatchIds }, again);
        Assert.Equal(first.BatchIds, again.BatchIds);
        Assert.Equal("ingestion", await database.DataSource.ScalarAsync<string>(
            "SELECT process_type FROM runsaga.run_lineage WHERE run_id = @run", ("run", run)));
    }

    [Fact]
    public async Task Should_record_a_missing_summary_when_the_promotion_is_repeated()
    {
        var (source, run) = await PromotedWithoutItsSummary();

        var again = await promoter.PromoteAsync(run, source, ProcessType.Ingestion, CancellationToken.None);

        Assert.True(again.AlreadyPromoted);
        Assert.Equal(2, await database.DataSource.ScalarAsync<int>(
            "SELECT discovered FROM runsaga.run_lineage WHERE run_id = @run", ("run", run)));
    }

    /// <summary>A promoted full run of two new items without its summary, as a promotion consumer from before the summary moved into the promotion left it.</summary>
    private async Task<(string Source, Guid Run)> PromotedWithoutItsSummary()
    {
        var source = NewSource();
        var run = await Runs.StageAsync(database.DataSource, ("b1", [Item("a"), Item("b")]));
        await promoter.PromoteAsync(run, source, ProcessType.Ingestion, CancellationToken.None);
        await database.DataSource.ExecuteAsync("DELETE FROM runsaga.run_lineage WHERE run_id = @run", ("run", run));
        return (source, run);
    }
}

public sealed class When_an_unpromoted_run_is_stamped(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_refuse_and_write_nothing()
    {
        var run = await Runs.StageAsync(database.DataSource, ("b1", [Item("a")]));

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(
            () => new LineageStamper(database.DataSource, Options.Create(new RunSagaOptions())).StampAsync(run, NewSource(), "ingestion", CancellationToken.None));

        Assert.Contains("run_promotions", failure.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.run_lineage WHERE run_id = @run", ("run", run)));
    }
}
