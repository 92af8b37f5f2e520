using RunSaga.IntegrationTests.Fixture;

namespace RunSaga.IntegrationTests.Crawling;

/// <summary>
/// The whole broker (every node of the three-node cluster) is restarted while a crawl (Scrapy's, then Crawlee's) is half done: the site holds
/// its product pages from the 30th on, the test waits until the crawl's first batches are staged, restarts RabbitMQ, and
/// lets the site answer again. The crawler's connection is gone; it must connect again (to any node it was given), send
/// the rest, and the run must end with every product once.
/// </summary>
[Collection(DistributedCollection.Name)]
public sealed class When_the_broker_restarts_mid_crawl(DistributedStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private const int Products = 60;
    private const int BatchSize = 7;

    [Theory]
    [MemberData(nameof(Crawl.Crawlers), MemberType = typeof(Crawl))]
    public async Task Should_end_the_crawl_with_every_item_once(string crawler)
    {
        var source = NewSource($"{crawler}-restart");
        await using var site = new LocalSite(Products);
        site.HoldProductPagesAfter(30);
        await using var tap = await CrawlTap.Open(Publisher);
        var nodes = Crawl.ClusterUris(Stack.Amqp);

        var crawl = Crawl.Run(crawler, Stack, site, source, new CrawlOptions(BatchSize, Amqp: nodes));
        await Eventually(async () => site.Held > 0 && await Db.Count(
                "SELECT count(*) FROM runsaga.staged_batches b JOIN runsaga.runs r ON r.id = b.run_id WHERE r.source = @p0", source) >= 3,
            "the crawl half done: product pages held, its first batches staged", TimeSpan.FromMinutes(1));

        foreach (var node in TestSettings.ClusterRabbitNodes.Reverse())
        {
            await Shell.Run("rabbitmqctl", "-n", node, "stop_app");
        }

        await Task.Delay(1000);
        await Task.WhenAll(TestSettings.ClusterRabbitNodes.Select(node => Shell.Run("rabbitmqctl", "-n", node, "start_app")));
        await Eventually(async () =>
            {
                try
                {
                    return (await Stack.Management.Nodes()).Count(n => n.Running) == TestSettings.ClusterRabbitNodes.Count;
                }
                catch (InvalidOperationException)
                {
                    return false;
                }
            },
            "every broker node running again", TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(500));
        site.Release();

        var outcome = await crawl;
        Assert.Equal("completed", outcome.Stat("outcome"));
        Assert.True(int.Parse(outcome.Stat("reconnects")) >= 1, "the crawler never had to connect again: the restart did not reach it");
        var row = await ExpectCompleted(outcome.RunId, TimeSpan.FromMinutes(3));
        Assert.Equal((Products, Products), (row.StagedItems, row.Inserted));
        await CrawlTap.AssertPublishedInOrder(tap, outcome.RunId, Products, "ScrapeCompleted", BatchSize);
        Assert.Equal(Products, await Db.Count("SELECT count(*) FROM runsaga.projects WHERE source = @p0 AND created_by_run_id = @p1", source, outcome.RunId));
        Assert.Equal(0, await Db.Count("""
            SELECT count(*) FROM (SELECT key FROM runsaga.project_lineage WHERE source = @p0 GROUP BY key HAVING count(*) > 1) twice
            """, source));
    }
}
