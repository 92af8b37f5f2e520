using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Examples;

/// <summary>
/// The shipped TypeScript example (amqplib), built by scripts/test, against the real broker as a user runs it. Not
/// skipped when Node.js or the build is missing: it fails and says what to do.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_the_typescript_example_publishes_a_run(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_complete_it_and_then_a_second_run_that_changes_some_items()
    {
        Assert.True(File.Exists(Stack.TypeScriptExample),
            $"{Stack.TypeScriptExample} is missing: build it with (cd examples/typescript && npm ci && npm run build); scripts/test does.");
        Assert.True(File.Exists(TestSettings.Node), $"no Node.js at {TestSettings.Node}: apt-get install nodejs npm, or set RUNSAGA_NODE");
        var source = NewSource("ts");

        var first = await PythonExample.RunExample(TestSettings.Node, Stack.TypeScriptExample, Stack.Amqp,
            "--source", source, "--items", "150", "--batch-size", "40", "--idempotency-key", $"{source}:v1:p1");
        var row = await ExpectCompleted(first);
        Assert.Equal((150, 4, 150), (row.StagedItems, row.StagedBatches, row.Inserted));
        Assert.Equal(150, await Db.Count("SELECT count(*) FROM runsaga.projects WHERE source = @p0 AND status = 'ok'", source));

        var second = await PythonExample.RunExample(TestSettings.Node, Stack.TypeScriptExample, Stack.Amqp,
            "--source", source, "--items", "150", "--change-every", "5");
        var again = await ExpectCompleted(second);
        Assert.Equal((0, 30, 120), (again.Inserted, again.Updated, again.Unchanged));
    }
}
