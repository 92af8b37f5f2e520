using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Examples;

/// <summary>The shipped example scraper (Python, pika) against the real broker, as a user runs it.</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_the_python_example_publishes_a_run(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [PythonFact]
    public async Task Should_complete_it()
    {
        var source = NewSource("py");

        var runId = await PythonExample.Run(Stack.PythonExample, Stack.Amqp, "--source", source, "--items", "250", "--batch-size", "100");

        var row = await ExpectCompleted(runId);
        Assert.Equal((250, 3, 250), (row.StagedItems, row.StagedBatches, row.Inserted));
        Assert.Equal(250, await Db.Count("SELECT count(*) FROM runsaga.projects WHERE source = @p0 AND status = 'ok'", source));
    }

    [PythonFact]
    public async Task Should_complete_it_sent_as_plain_json()
    {
        var source = NewSource("py-plain");

        var runId = await PythonExample.Run(Stack.PythonExample, Stack.Amqp,
            "--source", source, "--items", "120", "--batch-size", "50", "--plain-json");

        var row = await ExpectCompleted(runId);
        Assert.Equal((120, 3, 120), (row.StagedItems, row.StagedBatches, row.Inserted));
    }

    [PythonFact]
    public async Task Should_report_only_the_items_it_changed_in_a_second_run()
    {
        var source = NewSource("py-second");
        await ExpectCompleted(await PythonExample.Run(Stack.PythonExample, Stack.Amqp, "--source", source, "--items", "200"));

        // Same seed: identical content, except every 5th item whose title differs per run.
        var second = await PythonExample.Run(Stack.PythonExample, Stack.Amqp, "--source", source, "--items", "200", "--change-every", "5");

        var row = await ExpectCompleted(second);
        Assert.Equal((0, 40, 160, 0), (row.Inserted, row.Updated, row.Unchanged, row.Errored));
    }
}
