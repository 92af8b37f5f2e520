using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Crashes;

/// <summary>
/// The regression test of the campaign's second finding (docs/reliability.md): the scraper publishes every batch
/// while the Consumers are down for three times FLUSH_TIMEOUT. The batches wait in <c>runsaga.staging</c>; the run
/// must not fail FLUSH_INCOMPLETE meanwhile, and it completes once the Consumers are back. Before the fix it failed
/// 4 s after ScrapeCompleted.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_the_consumers_are_down_longer_than_the_flush_timeout(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_postpone_the_flush_verdict_and_complete_the_run_when_they_are_back()
    {
        var source = NewSource("outage");
        var items = Items.Numbered(60);
        var run = new ScrapeRun(source);
        var mark = Stack.Logs.Mark();

        Stack.KillConsumers();
        try
        {
            await Publisher.Publish(run.Whole(items.InBatches(20)));
            await Task.Delay(RunSagaStack.FlushTimeout * 3);

            var row = await Db.FindRun(run.RunId);
            Assert.True(row is { Status: "Running" }, $"The run should still wait for its batches: {row}{Environment.NewLine}{Stack.Logs.Tail(40, run.RunId.ToString())}");
            Assert.True(Stack.Logs.Contains(mark, "orchestrator", "runsaga.staging has no consumer"),
                "The Orchestrator should say why the flush verdict waits." + Environment.NewLine + Stack.Logs.Tail(40, run.RunId.ToString()));
        }
        finally
        {
            if (!Stack.ConsumersAreRunning)
            {
                await Stack.StartConsumers();
            }
        }

        var completed = await ExpectCompleted(run.RunId);
        Assert.Equal((60, 3), (completed.StagedItems, completed.StagedBatches));
        Assert.Equal(60, await Db.Count("SELECT count(*) FROM runsaga.projects WHERE source = @p0", source));
    }
}
