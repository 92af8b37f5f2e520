using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Delivery;

/// <summary>At-least-once delivery: the same batch (same run id and batch id), and the same events, arrive twice.</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_batch_is_redelivered(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_stage_and_count_it_once()
    {
        var source = NewSource("redelivered");
        var run = new ScrapeRun(source);
        var batches = Items.Numbered(250).InBatches(100);

        await Publisher.Publish([
            run.Requested(),
            run.Started(),
            run.Started(),
            run.Scraped(batches[0]),
            run.Scraped(batches[1]),
            run.Scraped(batches[1]),
            run.Scraped(batches[2]),
            run.Scraped(batches[0]),
            run.Completed(batches),
            run.Completed(batches),
        ]);

        var row = await ExpectCompleted(run.RunId);
        Assert.Equal((250, 3), (row.StagedItems, row.StagedBatches));
        Assert.Equal((250, 0, 0, 0), (row.Inserted, row.Updated, row.Unchanged, row.Errored));
        Assert.Equal(3, await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", run.RunId));
        Assert.Equal(250, await Db.Count("SELECT count(*) FROM runsaga.projects WHERE source = @p0", source));
        Assert.Equal(250, await Db.Count("SELECT count(*) FROM runsaga.project_lineage WHERE run_id = @p0", run.RunId));
    }

    [PythonFact]
    public async Task Should_count_a_batch_the_python_example_publishes_twice_once()
    {
        var source = NewSource("py-duplicate");

        var runId = await PythonExample.Run(Stack.PythonExample, Stack.Amqp,
            "--source", source, "--items", "250", "--batch-size", "100", "--duplicate-batch");

        var row = await ExpectCompleted(runId);
        Assert.Equal((250, 3), (row.StagedItems, row.StagedBatches));
        Assert.Equal(250, row.Inserted);
        Assert.Equal(3, await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", runId));
        Assert.Equal(250, await Db.Count("SELECT count(*) FROM runsaga.project_lineage WHERE run_id = @p0", runId));
    }
}
