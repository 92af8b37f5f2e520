using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.BadInput;

/// <summary>Batches and ScrapeCompleted for a run id that no RunRequested or RunStarted ever names (so no source).</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_run_is_never_identified(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_fail_it_after_the_flush_timeout_and_promote_nothing()
    {
        var checksum = await Db.ProjectsChecksum();
        var run = new ScrapeRun(NewSource("anonymous"));
        var batches = Items.Numbered(40).InBatches(20);

        await Publisher.Publish([.. batches.Select(run.Scraped), run.Completed(batches)]);

        var row = await ExpectFailed(run.RunId, "RUN_NEVER_IDENTIFIED", TimeSpan.FromSeconds(30));
        await AssertProjectsUntouchedBy(run.RunId, checksum);
        var faulted = (await Stack.Management.PeekMessages(Stack.VirtualHost, "runsaga.runs_error", 1000))
            .Where(m => m.Payload.Contains(run.RunId.ToString(), StringComparison.OrdinalIgnoreCase))
            .ToList();
        Assert.True(faulted.Count == 0, $"Events of the unidentified run went to runsaga.runs_error: {string.Join(Environment.NewLine, faulted)}");
    }
}
