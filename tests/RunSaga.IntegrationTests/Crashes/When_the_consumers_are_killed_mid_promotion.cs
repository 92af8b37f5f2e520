using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Crashes;

/// <summary>
/// A run of 30,000 items in 30 batches. While its promotion statement runs, the Consumers process is killed
/// with SIGKILL, then started again. To make "while it runs" certain rather than lucky, a trigger installed in
/// the test database holds the statement for 2 s when it reaches the run's last key (the rows before it are
/// already written, uncommitted, in the promotion's transaction).
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_the_consumers_are_killed_mid_promotion(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private const int ItemCount = 30_000;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Should_finish_the_run_after_a_restart_with_nothing_lost_or_doubled()
    {
        var source = NewSource("sigkill");
        var items = Items.Numbered(ItemCount);
        var batches = items.InBatches(1_000);
        var run = new ScrapeRun(source);
        var hold = await Db.OnProjectsInsert(source, items[^1].Key, "PERFORM pg_sleep(2);");
        try
        {
            await Publisher.Publish(run.Whole(batches));
            await Db.WaitForRun(run.RunId, r => r.Status != "Queued" && r.Status != "Running", "past Running (Flushed)", Timeout);
            await Eventually(Db.PromotionStatementIsRunning, "the promotion statement shows in pg_stat_activity", Timeout,
                TimeSpan.FromMilliseconds(10));

            Stack.KillConsumers();

            // Killed mid-promotion: nothing of it is committed, and the run waits in Flushed.
            Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.run_promotions WHERE run_id = @p0", run.RunId));
            Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.projects WHERE source = @p0", source));
            Assert.Equal("Flushed", (await Db.FindRun(run.RunId))!.Status);

            await Stack.StartConsumers();

            var row = await ExpectCompleted(run.RunId, Timeout);
            Assert.Equal((ItemCount, 30), (row.StagedItems, row.StagedBatches));
            Assert.Equal((ItemCount, 0, 0, 0), (row.Inserted, row.Updated, row.Unchanged, row.Errored));
        }
        finally
        {
            if (!Stack.ConsumersAreRunning)
            {
                await Stack.StartConsumers();
            }

            await hold.DisposeAsync();
        }

        Assert.Equal(ItemCount, await Db.Count("""
            SELECT count(*) FROM runsaga.projects
            WHERE source = @p0 AND status = 'ok'
              AND created_by_run_id = @p1 AND last_updated_by_run_id = @p1 AND last_confirmed_run_id = @p1
            """, source, run.RunId));
        Assert.Equal(ItemCount, await Db.Count("SELECT count(*) FROM runsaga.project_lineage WHERE source = @p0", source));
        Assert.Equal(ItemCount, await Db.Count("""
            SELECT count(DISTINCT key) FROM runsaga.project_lineage
            WHERE source = @p0 AND run_id = @p1 AND change = 'created'
            """, source, run.RunId));
        Assert.Equal(1, await Db.Count("SELECT count(*) FROM runsaga.run_promotions WHERE run_id = @p0", run.RunId));
        var summary = await Db.RunLineage(run.RunId);
        Assert.True(summary is not null, $"run_lineage has no row for run {run.RunId}");
        Assert.Equal(ItemCount, summary.Discovered);
    }
}
