using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Flush;

/// <summary>
/// The flush deadline passes while the run's last batch is inside its staging transaction: delivered to the Consumers,
/// so no longer counted as waiting in <c>runsaga.staging</c>, and not yet committed. A trigger in the test database holds
/// that batch's COPY at its 50th row for two and a half times FLUSH_TIMEOUT. The run must not fail FLUSH_INCOMPLETE: its
/// batch is being staged, and the Orchestrator must say so; it completes once the batch is in.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_batch_is_still_being_staged_at_the_flush_deadline(RunSagaStack stack, ITestOutputHelper output)
    : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_hold_the_flush_verdict_until_the_batch_is_staged()
    {
        var source = NewSource("slow-batch");
        var items = Items.Numbered(100);
        var run = new ScrapeRun(source);
        var batches = items.InBatches(100);
        var mark = Stack.Logs.Mark();
        var holdSeconds = RunSagaStack.FlushTimeout.TotalSeconds * 2.5;
        await using (await Db.OnStagedInsert(run.RunId, batches[0].Items[49].Key!, $"PERFORM pg_sleep({holdSeconds});"))
        {
            await Publisher.Publish(run.Whole(batches));
            await Eventually(async () => await Db.Count(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE 'COPY runsaga.staged_items%'") == 1,
                "the batch's COPY held by the trigger", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(20));

            var completed = await ExpectCompleted(run.RunId);
            Assert.Equal((100, 1), (completed.StagedItems, completed.StagedBatches));
        }

        Assert.True(Stack.Logs.Contains(mark, "orchestrator", "being staged"),
            "The Orchestrator should say why the flush verdict waited." + Environment.NewLine + Stack.Logs.Tail(40, run.RunId.ToString()));
        Assert.Equal(100, await Db.Count("SELECT count(*) FROM runsaga.projects WHERE source = @p0", source));
    }

    [Fact]
    public async Task Should_hold_the_flush_verdict_while_a_batch_waits_behind_slow_staging()
    {
        // Every staging slot of the Consumers (ConcurrentMessageLimit 4) is taken by another run's slow COPY. The run's
        // only batch is then delivered (prefetch 8) but waits for a slot: RabbitMQ no longer counts it as waiting, and no
        // transaction of the run holds a lock yet. Its flush deadline passes meanwhile.
        var holdSeconds = RunSagaStack.FlushTimeout.TotalSeconds * 3;
        var blockerItems = Items.Numbered(10);
        var blockers = Enumerable.Range(1, 4).Select(i => new ScrapeRun(NewSource($"slow-blocker-{i}"))).ToList();
        var triggers = new List<IAsyncDisposable>();
        try
        {
            // Every trigger first: creating one waits for the COPYs already in progress (CREATE TRIGGER locks the table).
            foreach (var blocker in blockers)
            {
                triggers.Add(await Db.OnStagedInsert(blocker.RunId, blockerItems[4].Key!, $"PERFORM pg_sleep({holdSeconds});"));
            }

            foreach (var blocker in blockers)
            {
                await Publisher.Publish(blocker.Whole(blockerItems.InBatches(10)));
            }

            await Eventually(async () => await Db.Count(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE 'COPY runsaga.staged_items%'") == 4,
                "every staging slot of the Consumers held by a slow COPY", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(20));
            var source = NewSource("behind-slow-staging");
            var run = new ScrapeRun(source);
            var mark = Stack.Logs.Mark();

            await Publisher.Publish(run.Whole(Items.Numbered(20).InBatches(20)));

            var completed = await ExpectCompleted(run.RunId, TimeSpan.FromSeconds(holdSeconds + 60));
            Assert.Equal((20, 1), (completed.StagedItems, completed.StagedBatches));
            Assert.True(Stack.Logs.Contains(mark, "orchestrator", "staging transaction"),
                "The Orchestrator should say why the flush verdict waited." + Environment.NewLine + Stack.Logs.Tail(40, run.RunId.ToString()));
        }
        finally
        {
            foreach (var trigger in triggers)
            {
                await trigger.DisposeAsync();
            }
        }

        foreach (var blocker in blockers)
        {
            await ExpectCompleted(blocker.RunId, TimeSpan.FromSeconds(60));
        }
    }
}
