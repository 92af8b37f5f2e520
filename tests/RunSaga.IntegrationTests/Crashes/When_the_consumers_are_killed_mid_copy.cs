using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Crashes;

/// <summary>
/// A run of 2 batches of 10,000 items, about 6 MB each. While the second batch's COPY into staging is streaming, the
/// Consumers process is killed with SIGKILL, then started again. To make "while it streams" certain rather than lucky, a
/// trigger installed in the test database holds the COPY for 3 s at the 200th row of that batch (the rows before it are
/// written, uncommitted, in the staging transaction). The test waits until pg_stat_progress_copy shows that COPY held
/// with less than half of the batch's stream read by PostgreSQL, so the Consumers are still writing it when they die.
/// Nothing of the killed batch may stay, and after the restart the run ends with every item once.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_the_consumers_are_killed_mid_copy(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private const int ItemCount = 20_000;
    private const int BatchSize = 10_000;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Should_stage_every_item_once_after_a_restart()
    {
        var source = NewSource("sigkill-copy");
        var items = Enumerable.Range(1, ItemCount)
            .Select(i => new Item($"item-{i:D5}", $"Item {i}", $"https://example.test/items/{i}", new System.Text.Json.Nodes.JsonObject { ["pad"] = new string('x', 500) }))
            .ToList();
        var batches = items.InBatches(BatchSize);
        var held = batches[1];
        var run = new ScrapeRun(source);
        var hold = await Db.OnStagedInsert(run.RunId, held.Items[199].Key!, "PERFORM pg_sleep(3);");
        try
        {
            // ScrapeCompleted only once both batches are staged (below): this spec is about the batch killed mid-COPY, not
            // about how long a flush deadline waits for Consumers that are down.
            await Publisher.Publish([run.Requested(), run.Started(), .. batches.Select(run.Scraped)]);
            long read = 0;
            await Eventually(async () =>
                {
                    var progress = await Db.Query("""
                        SELECT p.bytes_processed FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)
                        WHERE p.relid = 'runsaga.staged_items'::regclass AND p.command = 'COPY FROM' AND p.tuples_processed > 0
                          AND a.wait_event = 'PgSleep'
                        """, r => r.GetInt64(0));
                    read = progress.FirstOrDefault();
                    return progress.Count > 0;
                },
                "a COPY into staged_items held by the trigger, rows already processed", Timeout, TimeSpan.FromMilliseconds(10));
            Assert.True(read < BatchSize * 500 / 2, $"PostgreSQL had read {read} bytes of the held COPY: the Consumers might have sent it all");

            Stack.KillConsumers();

            // Killed mid-COPY: the held batch is not staged, not even in part.
            await Eventually(async () => await Db.Count(
                    "SELECT count(*) FROM pg_stat_progress_copy WHERE relid = 'runsaga.staged_items'::regclass") == 0,
                "the killed COPY is gone from PostgreSQL", Timeout);
            Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0 AND batch_id = @p1", run.RunId, held.BatchId));
            Assert.Equal(0, await Db.Count(
                "SELECT count(*) FROM runsaga.staged_items WHERE run_id = @p0 AND batch_id = @p1", run.RunId, held.BatchId));

            // The batch comes back from the broker to the new Consumers, and is not held again.
            await hold.DisposeAsync();
            await Stack.StartConsumers();
            await Eventually(async () => await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", run.RunId) == 2,
                "both batches staged after the restart", Timeout);
            await Publisher.Publish(run.Completed(batches));

            var row = await ExpectCompleted(run.RunId, Timeout);
            Assert.Equal((ItemCount, 2), (row.StagedItems, row.StagedBatches));
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

        Assert.Equal(ItemCount, await Db.Count("SELECT count(*) FROM runsaga.staged_items WHERE run_id = @p0", run.RunId));
        Assert.Equal(ItemCount, await Db.Count(
            "SELECT count(*) FROM runsaga.projects WHERE source = @p0 AND created_by_run_id = @p1 AND last_confirmed_run_id = @p1", source, run.RunId));
        Assert.Equal(0, await Db.Count("""
            SELECT count(*) FROM (SELECT key FROM runsaga.project_lineage WHERE source = @p0 GROUP BY key HAVING count(*) > 1) twice
            """, source));
    }
}
