using RunSaga.IntegrationTests.Broker;

namespace RunSaga.IntegrationTests.Crawling;

/// <summary>
/// A queue of the test's own (a quorum queue, so it outlives a broker restart) bound to the five exchanges a scraper
/// publishes to: what a crawler sent, in the order the broker received it.
/// </summary>
public static class CrawlTap
{
    public static Task<DurableSubscriber> Open(ScraperPublisher publisher) =>
        publisher.Subscribe($"it-tap-{Guid.NewGuid():N}", "RunRequested", "RunStarted", "ItemsScraped", "ScrapeCompleted", "ScrapeFailed");

    /// <summary>
    /// The run's messages: RunRequested, RunStarted, the batches (distinct ids, no item in two batches, none over
    /// <paramref name="batchSize"/>), then exactly one <paramref name="last"/>, whose totals match the batches. A message
    /// published again over a new connection (the same message id, the same content) counts once. Returns the item count.
    /// </summary>
    public static async Task<int> AssertPublishedInOrder(
        DurableSubscriber tap, Guid runId, int? expectedItems, string last, int batchSize)
    {
        var all = await tap.DrainAsync(TimeSpan.FromSeconds(1));
        var received = all.Where(m => m.Message.TryGetProperty("runId", out var id) && id.GetString() == runId.ToString()).ToList();
        // A publish whose confirm was lost with its connection is published again with the same id: the broker may have
        // both. Anything else twice (a new id for the same batch, another content) is the integration's fault.
        var run = new List<ReceivedNotification>();
        foreach (var message in received)
        {
            var earlier = run.FirstOrDefault(m => m.MessageId == message.MessageId);
            if (earlier is null)
            {
                run.Add(message);
                continue;
            }

            Assert.Equal(earlier.Message.GetRawText(), message.Message.GetRawText());
        }

        var names = run.Select(m => m.MessageName).ToList();
        var describe = string.Join(", ", names);
        Assert.True(names.Count >= 3, $"too few messages for run {runId}: {describe}");
        Assert.Equal(["RunRequested", "RunStarted"], names.Take(2));
        Assert.Equal(last, names[^1]);
        Assert.All(names.Skip(2).SkipLast(1), name => Assert.Equal("ItemsScraped", name));

        var batches = run.Where(m => m.MessageName == "ItemsScraped").ToList();
        var batchIds = batches.Select(b => b.Message.GetProperty("batchId").GetString()).ToList();
        Assert.Equal(batchIds.Count, batchIds.Distinct().Count());
        var keys = batches.SelectMany(b => b.Message.GetProperty("items").EnumerateArray()).Select(i => i.GetProperty("key").GetString()).ToList();
        Assert.Equal(keys.Count, keys.Distinct().Count());
        Assert.All(batches, b => Assert.InRange(b.Message.GetProperty("items").GetArrayLength(), 1, batchSize));
        if (expectedItems is { } count)
        {
            Assert.Equal(count, keys.Count);
        }

        var end = run[^1].Message;
        if (last == "ScrapeCompleted")
        {
            Assert.Equal((keys.Count, batches.Count), (end.GetProperty("totalItems").GetInt32(), end.GetProperty("totalBatches").GetInt32()));
        }

        return keys.Count;
    }
}
