using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Delivery;

/// <summary>Order does not matter: ScrapeCompleted comes first, before RunRequested, RunStarted and most batches.</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_the_scrape_completes_before_its_batches(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_still_complete_with_every_item()
    {
        var source = NewSource("complete-first");
        var run = new ScrapeRun(source);
        var items = Items.Numbered(250);
        var batches = items.InBatches(100);

        await Publisher.Publish([
            run.Completed(batches),
            run.Scraped(batches[2]),
            run.Requested(),
            run.Started(),
            run.Scraped(batches[0]),
            run.Scraped(batches[1]),
        ]);

        var row = await ExpectCompleted(run.RunId);
        Assert.Equal((250, 3, 250), (row.StagedItems, row.StagedBatches, row.Inserted));
        var projects = await Db.Projects(source);
        Assert.Equal(items.Select(i => i.Key).Order(StringComparer.Ordinal), projects.Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.All(projects, p => Assert.Equal(run.RunId, p.CreatedByRunId));
    }

    [Fact]
    public async Task Should_record_a_request_that_arrives_last_as_if_it_had_come_first()
    {
        var source = NewSource("request-last");
        var run = new ScrapeRun(source, processType: "sync");
        var batches = Items.Numbered(40).InBatches(20);
        var key = $"{source}:it-input:it-pipeline";

        // The run is flushing (waiting for its second batch) when its own RunRequested finally arrives.
        await Publisher.Publish([run.Started(), run.Scraped(batches[0]), run.Completed(batches)]);
        await Db.WaitForRun(run.RunId, r => r.SagaState == "Flushing", "waiting for its last batch");
        await Publisher.Publish([run.Requested(key)]);
        await Db.WaitForRun(run.RunId, r => r.IdempotencyKey == key, "with the late request recorded");
        await Publisher.Publish([run.Scraped(batches[1])]);

        var row = await ExpectCompleted(run.RunId);
        Assert.Equal(key, row.IdempotencyKey);
        Assert.Equal(
            ["RunSaga.IntegrationTests"],
            await Db.Query("SELECT requested_by FROM runsaga.runs WHERE id = @p0", reader => reader.GetString(0), run.RunId));
    }

    [PythonFact]
    public async Task Should_complete_a_run_the_python_example_publishes_completion_first()
    {
        var source = NewSource("py-complete-first");

        var runId = await PythonExample.Run(Stack.PythonExample, Stack.Amqp,
            "--source", source, "--items", "180", "--batch-size", "50", "--complete-first");

        var row = await ExpectCompleted(runId);
        Assert.Equal((180, 4, 180), (row.StagedItems, row.StagedBatches, row.Inserted));
        Assert.Equal(180, await Db.Count("SELECT count(*) FROM runsaga.projects WHERE source = @p0", source));
    }
}
