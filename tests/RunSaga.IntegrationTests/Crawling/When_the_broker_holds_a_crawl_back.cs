using RunSaga.IntegrationTests.Fixture;

namespace RunSaga.IntegrationTests.Crawling;

/// <summary>
/// Back-pressure, made visible: while the broker takes none of a crawler's messages, the crawl must stop fetching pages
/// (instead of piling up items in memory), and once the broker takes them again it must end with every item once.
/// RabbitMQ's memory alarm is what a broker short of memory does: it stops reading from every publishing connection of
/// the cluster. The test raises it (a high watermark of 0), counts the site's requests while it holds, and lowers it.
/// </summary>
[Collection(DistributedCollection.Name)]
public sealed class When_the_broker_holds_a_crawl_back(DistributedStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private const int Products = 150;
    private const int BatchSize = 2;
    private const int ListingPages = (Products + LocalSite.PerPage - 1) / LocalSite.PerPage;

    [Theory]
    [MemberData(nameof(Crawl.Crawlers), MemberType = typeof(Crawl))]
    public async Task Should_stop_fetching_pages_until_the_broker_takes_messages_again(string crawler)
    {
        var source = NewSource($"{crawler}-held-back");
        await using var site = new LocalSite(Products);
        site.HoldProductPagesAfter(20);
        await using var tap = await CrawlTap.Open(Publisher);
        var nodes = Crawl.ClusterUris(Stack.Amqp);
        // Crawlee's bound is its maxConcurrency (8 handlers waiting in pushData). Scrapy's is the size of the responses in
        // progress (SCRAPER_SLOT_MAX_ACTIVE_SIZE, 5 MB by default: thousands of these small pages), 20 KB here.
        var settings = crawler == Crawl.Scrapy ? new Dictionary<string, string> { ["SCRAPER_SLOT_MAX_ACTIVE_SIZE"] = "20000" } : null;
        var node = TestSettings.ClusterRabbitNodes[0];
        var watermark = (await Shell.Run("rabbitmqctl", "-n", node, "eval", "vm_memory_monitor:get_vm_memory_high_watermark().")).Trim();
        Assert.Matches(@"^[0-9.]+$", watermark);

        var crawl = Crawl.Run(crawler, Stack, site, source, new CrawlOptions(BatchSize, Amqp: nodes, Settings: settings));
        int heldFrom, heldTo;
        try
        {
            await Eventually(async () => site.Held > 0 && await Db.Count(
                    "SELECT count(*) FROM runsaga.staged_batches b JOIN runsaga.runs r ON r.id = b.run_id WHERE r.source = @p0", source) >= 3,
                "the crawl under way: its first batches staged, product pages held", TimeSpan.FromMinutes(1));
            await Shell.Run("rabbitmqctl", "-n", node, "set_vm_memory_high_watermark", "0");
            await Eventually(async () => (await Shell.Run("rabbitmqctl", "-n", node, "eval", "rabbit_alarm:get_alarms().")).Contains("memory"),
                "RabbitMQ's memory alarm raised", TimeSpan.FromSeconds(30));
            site.Release();

            // The pages held and those in flight are answered, their items wait; then the crawl must stand still.
            await Task.Delay(TimeSpan.FromSeconds(10));
            heldFrom = site.Requests;
            await Task.Delay(TimeSpan.FromSeconds(6));
            heldTo = site.Requests;
        }
        finally
        {
            await Shell.Run("rabbitmqctl", "-n", node, "set_vm_memory_high_watermark", watermark);
        }

        Output.WriteLine($"{crawler}: {heldFrom} requests 10 s into the alarm, {heldTo} 6 s later; the site has {Products + ListingPages + site.BrokenLinks}");
        Assert.True(heldFrom == heldTo, $"the crawl went on fetching pages while the broker took none of its messages ({heldFrom} → {heldTo} requests)");
        Assert.True(heldTo < Products, $"the crawl had fetched {heldTo} pages of {Products} products before it stopped: nothing held it back");

        var outcome = await crawl;
        Assert.Equal("completed", outcome.Stat("outcome"));
        Assert.True(int.Parse(outcome.Stat("backpressure_waits")) >= 1, "the crawler never made an item wait");
        var row = await ExpectCompleted(outcome.RunId, TimeSpan.FromMinutes(2));
        Assert.Equal((Products, Products), (row.StagedItems, row.Inserted));
        await CrawlTap.AssertPublishedInOrder(tap, outcome.RunId, Products, "ScrapeCompleted", BatchSize);
    }
}
