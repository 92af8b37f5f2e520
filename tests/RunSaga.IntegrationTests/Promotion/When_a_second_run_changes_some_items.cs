using System.Text.Json.Nodes;
using RunSaga.IntegrationTests.Data;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Promotion;

/// <summary>
/// Run 1 scrapes items 1–100. Run 2 of the same source brings 1–40 unchanged, 41–70 with new content, 71 with
/// an error, and new items 101–120; 72–100 are absent from it.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_second_run_changes_some_items(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private const string ErroredKey = "item-00071";
    private const string ScrapeError = "HTTP 503 from upstream";

    private readonly string source = NewSource("second");

    [Fact]
    public async Task Should_update_and_stamp_only_the_changed_and_new_items()
    {
        var runs = await RunTwice();

        var projects = (await Db.Projects(source)).ToDictionary(p => p.Key);
        Assert.Equal(120, projects.Count);
        foreach (var key in Keys(1, 40))
        {
            var (before, after) = (runs.AfterFirst[key], projects[key]);
            Assert.Equal(runs.First.RunId, after.LastUpdatedByRunId);
            Assert.Equal(runs.First.RunId, after.CreatedByRunId);
            Assert.Equal(before.BatchId, after.BatchId);
            Assert.Equal((before.Title, before.Data, before.ContentHash), (after.Title, after.Data, after.ContentHash));
            Assert.Equal(runs.Second.RunId, after.LastConfirmedRunId);
        }

        foreach (var key in Keys(41, 70))
        {
            var after = projects[key];
            var sent = runs.SecondItems[key];
            Assert.Equal(runs.First.RunId, after.CreatedByRunId);
            Assert.Equal(runs.Second.RunId, after.LastUpdatedByRunId);
            Assert.Equal(runs.Second.RunId, after.LastConfirmedRunId);
            Assert.Equal(runs.SecondCarriedBy[key], after.BatchId);
            Assert.Equal(sent.Title, after.Title);
            Assert.True(JsonNode.DeepEquals(sent.Data, JsonNode.Parse(after.Data!)), $"{key}: {after.Data}");
            Assert.NotEqual(runs.AfterFirst[key].ContentHash, after.ContentHash);
            Assert.Equal("ok", after.Status);
        }

        foreach (var key in Keys(101, 120))
        {
            var after = projects[key];
            Assert.Equal((runs.Second.RunId, runs.Second.RunId, runs.Second.RunId),
                (after.CreatedByRunId, after.LastUpdatedByRunId, after.LastConfirmedRunId));
            Assert.Equal(runs.SecondCarriedBy[key], after.BatchId);
        }

        // Absent from a full run: untouched by promotion (retention decides about them, not this run).
        foreach (var key in Keys(72, 100))
        {
            Assert.Equal(runs.AfterFirst[key], projects[key]);
        }

        var lineage = (await Db.Lineage(source)).Where(l => l.RunId == runs.Second.RunId).ToList();
        var expected = Keys(41, 70).Select(k => (k, "updated"))
            .Concat(Keys(101, 120).Select(k => (k, "created")))
            .Append((ErroredKey, "errored"))
            .Order();
        Assert.Equal(expected, lineage.Select(l => (l.Key, l.Change)).Order());
        Assert.All(lineage, row => Assert.Equal(runs.SecondCarriedBy[row.Key], row.BatchId));
        Assert.All(lineage.Where(l => l.Change != "errored"), row => Assert.Equal(projects[row.Key].ContentHash, row.ContentHash));
    }

    [Fact]
    public async Task Should_keep_an_errored_items_previous_content_and_mark_it_error()
    {
        var runs = await RunTwice();

        var before = runs.AfterFirst[ErroredKey];
        var after = (await Db.Projects(source)).Single(p => p.Key == ErroredKey);
        Assert.Equal("error", after.Status);
        Assert.Equal(ScrapeError, after.Error);
        Assert.Equal((before.Title, before.Url, before.Data, before.ContentHash, before.BatchId),
            (after.Title, after.Url, after.Data, after.ContentHash, after.BatchId));
        Assert.Equal(runs.First.RunId, after.CreatedByRunId);
        Assert.Equal(runs.Second.RunId, after.LastUpdatedByRunId);
        Assert.Equal(runs.Second.RunId, after.LastConfirmedRunId);
    }

    [Fact]
    public async Task Should_count_inserted_updated_unchanged_and_errored_on_the_run()
    {
        var runs = await RunTwice();

        var row = (await Db.FindRun(runs.Second.RunId))!;
        Assert.Equal((20, 30, 40, 1), (row.Inserted, row.Updated, row.Unchanged, row.Errored));
        Assert.Equal(91, row.StagedItems);
        Assert.Equal(4, row.StagedBatches);

        var summary = await Db.RunLineage(runs.Second.RunId);
        Assert.True(summary is not null, $"run_lineage has no row for run {runs.Second.RunId}");
        Assert.Equal((30, 1, 40), (summary.Updated, summary.Errored, summary.Unchanged));
    }

    private async Task<TwoRuns> RunTwice()
    {
        var first = new ScrapeRun(source);
        await CompleteRun(first, Items.Numbered(100).InBatches(40, "r1-"));
        var afterFirst = (await Db.Projects(source)).ToDictionary(p => p.Key);

        List<Item> secondItems =
        [
            .. Items.Numbered(40),
            .. Items.Numbered(30, revision: 2, first: 41),
            new Item(ErroredKey, Error: ScrapeError),
            .. Items.Numbered(20, first: 101),
        ];
        var secondBatches = secondItems.InBatches(30, "r2-");
        var second = new ScrapeRun(source);
        await CompleteRun(second, secondBatches);

        return new TwoRuns(
            first,
            second,
            afterFirst,
            secondItems.ToDictionary(i => i.Key!),
            secondBatches.SelectMany(b => b.Items.Select(i => (Key: i.Key!, b.BatchId))).ToDictionary(x => x.Key, x => x.BatchId));
    }

    private static IEnumerable<string> Keys(int first, int last) => Enumerable.Range(first, last - first + 1).Select(i => $"item-{i:D5}");

    private sealed record TwoRuns(
        ScrapeRun First,
        ScrapeRun Second,
        Dictionary<string, ProjectRow> AfterFirst,
        Dictionary<string, Item> SecondItems,
        Dictionary<string, string> SecondCarriedBy);
}
