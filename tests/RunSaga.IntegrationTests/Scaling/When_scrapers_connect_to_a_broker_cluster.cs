using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Scaling;

/// <summary>
/// The example scrapers (Python with pika, TypeScript with amqplib) given the broker cluster as a list of node URIs, the
/// first of which does not answer, as when a node is down: each connects to the next node and its run completes.
/// </summary>
[Collection(DistributedCollection.Name)]
public sealed class When_scrapers_connect_to_a_broker_cluster(DistributedStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [PythonFact]
    public async Task Should_publish_through_the_next_node_with_python() =>
        await PublishThroughTheNextNode(TestSettings.Python, Stack.PythonExample, "py");

    [Fact]
    public async Task Should_publish_through_the_next_node_with_typescript()
    {
        Assert.True(File.Exists(TestSettings.Node), $"no Node.js at {TestSettings.Node}: apt-get install nodejs npm, or set RUNSAGA_NODE");
        await PublishThroughTheNextNode(TestSettings.Node, Stack.TypeScriptExample, "ts");
    }

    private async Task PublishThroughTheNextNode(string interpreter, string script, string name)
    {
        Assert.True(Stack.Topology.IsCluster, "this spec needs the broker cluster of scripts/lib/cluster.sh");
        var source = NewSource($"cluster-{name}");
        var nodes = new[] { "localhost:5799" }.Concat(Stack.Topology.RabbitMqNodes.Skip(1))
            .Select(node => new UriBuilder(Stack.Amqp) { Host = node.Split(':')[0], Port = int.Parse(node.Split(':')[1]) }.Uri.ToString());

        var runId = await PythonExample.RunExample(interpreter, script, string.Join(',', nodes), "--source", source, "--items", "120", "--batch-size", "50");

        var row = await ExpectCompleted(runId);
        Assert.Equal((120, 3, 120), (row.StagedItems, row.StagedBatches, row.Inserted));
    }
}
