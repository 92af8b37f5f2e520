using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Delivery;

/// <summary>Two runs of the same source, with distinct items, published interleaved message by message.</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_two_runs_of_one_source_overlap(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_complete_both_with_every_item()
    {
        var source = NewSource("overlap");
        var first = new ScrapeRun(source);
        var second = new ScrapeRun(source);
        var firstBatches = Items.Numbered(150, "first").InBatches(50, "first-");
        var secondBatches = Items.Numbered(150, "second").InBatches(50, "second-");

        var firstMessages = first.Whole(firstBatches).ToList();
        var secondMessages = second.Whole(secondBatches).ToList();
        await Publisher.Publish(firstMessages.Zip(secondMessages).SelectMany(pair => new[] { pair.First, pair.Second }));

        foreach (var run in new[] { first, second })
        {
            var row = await ExpectCompleted(run.RunId);
            Assert.Equal((150, 0, 0, 0), (row.Inserted, row.Updated, row.Unchanged, row.Errored));
        }

        var projects = await Db.Projects(source);
        Assert.Equal(300, projects.Count);
        Assert.All(projects, p => Assert.Equal(p.Key.StartsWith("first-", StringComparison.Ordinal) ? first.RunId : second.RunId, p.CreatedByRunId));
        var lineage = await Db.Lineage(source);
        Assert.Equal(300, lineage.Count);
        Assert.Equal(300, lineage.Select(l => l.Key).Distinct().Count());
        Assert.All(lineage, l => Assert.Equal(l.Key.StartsWith("first-", StringComparison.Ordinal) ? first.RunId : second.RunId, l.RunId));
    }
}
