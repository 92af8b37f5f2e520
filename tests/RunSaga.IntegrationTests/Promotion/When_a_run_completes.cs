using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Promotion;

/// <summary>250 items in 3 batches (100, 100, 50), published in the usual order.</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_run_completes(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private readonly string source = NewSource("complete");
    private readonly List<Item> items = Items.Numbered(250);

    [Fact]
    public async Task Should_promote_every_item_with_its_content_run_and_batch()
    {
        var (run, batches) = await CompleteTheRun();

        var carriedBy = CarriedBy(batches);
        var projects = await Db.Projects(source);
        Assert.Equal(items.Select(i => i.Key).Order(StringComparer.Ordinal), projects.Select(p => p.Key).Order(StringComparer.Ordinal));
        var sent = items.ToDictionary(i => i.Key!);
        Assert.All(projects, project =>
        {
            var item = sent[project.Key];
            Assert.Equal("ok", project.Status);
            Assert.Null(project.Error);
            Assert.Equal(run.RunId, project.CreatedByRunId);
            Assert.Equal(run.RunId, project.LastUpdatedByRunId);
            Assert.Equal(run.RunId, project.LastConfirmedRunId);
            Assert.Equal(carriedBy[project.Key], project.BatchId);
            Assert.Equal(item.Title, project.Title);
            Assert.Equal(item.Url, project.Url);
            Assert.True(JsonNode.DeepEquals(item.Data, JsonNode.Parse(project.Data!)), $"{project.Key}: data {project.Data} is not {item.Data!.ToJsonString()}");
            Assert.False(string.IsNullOrEmpty(project.ContentHash));
        });
    }

    [Fact]
    public async Task Should_append_one_created_lineage_row_per_item_with_its_run_and_batch()
    {
        var (run, batches) = await CompleteTheRun();

        var carriedBy = CarriedBy(batches);
        var hashes = (await Db.Projects(source)).ToDictionary(p => p.Key, p => p.ContentHash);
        var lineage = await Db.Lineage(source);
        Assert.Equal(items.Count, lineage.Count);
        Assert.Equal(items.Count, lineage.Select(l => l.Key).Distinct().Count());
        Assert.All(lineage, row =>
        {
            Assert.Equal("created", row.Change);
            Assert.Equal(run.RunId, row.RunId);
            Assert.Equal(carriedBy[row.Key], row.BatchId);
            Assert.Equal(hashes[row.Key], row.ContentHash);
        });
    }

    [Fact]
    public async Task Should_record_counts_batches_folder_and_step_metrics_on_the_run()
    {
        var (run, batches) = await CompleteTheRun();

        var row = (await Db.FindRun(run.RunId))!;
        Assert.Equal(source, row.Source);
        Assert.Equal("ingestion", row.ProcessType);
        Assert.Equal(250, row.ExpectedItems);
        Assert.Equal(3, row.ExpectedBatches);
        Assert.Equal(250, row.StagedItems);
        Assert.Equal(3, row.StagedBatches);
        Assert.Equal(0, row.RejectedItems ?? 0);
        Assert.Equal(batches.Select(b => b.BatchId).Order(StringComparer.Ordinal), row.BatchIds.Order(StringComparer.Ordinal));
        Assert.Equal((250, 0, 0, 0), (row.Inserted, row.Updated, row.Unchanged, row.Errored));
        Assert.NotNull(row.FlushedAt);
        Assert.NotNull(row.CompletedAt);
        Assert.Null(row.ErrorCode);

        // YYYYMMDD_HHMMSS_{id}, from the start time.
        Assert.Matches(new Regex($"^[0-9]{{8}}_[0-9]{{6}}_{run.RunId}$"), row.FolderName);
        Assert.Equal($"{row.StartedAt!.Value:yyyyMMdd_HHmmss}_{run.RunId}", row.FolderName);

        foreach (var name in new[] { "flush", "promotion", "lineage" })
        {
            var step = row.Step(name);
            Assert.True(step is not null, $"metrics has no '{name}' step: {row.Metrics}");
            Assert.Equal("succeeded", (string?)step["status"]);
            Assert.NotNull(step["started_at"]);
            Assert.NotNull(step["finished_at"]);
            Assert.Null(step["error"]);
        }

        var summary = await Db.RunLineage(run.RunId);
        Assert.True(summary is not null, $"run_lineage has no row for run {run.RunId}");
        Assert.Equal(source, summary.Source);
        Assert.Equal("ingestion", summary.ProcessType);
        Assert.Equal((250, 0, 0, 0), (summary.Discovered, summary.Updated, summary.Errored, summary.Deleted));
        Assert.Equal(batches.Select(b => b.BatchId).Order(StringComparer.Ordinal), summary.BatchIds.Order(StringComparer.Ordinal));
    }

    private async Task<(ScrapeRun Run, List<Batch> Batches)> CompleteTheRun()
    {
        var run = new ScrapeRun(source);
        var batches = items.InBatches(100);
        await CompleteRun(run, batches);
        return (run, batches);
    }

    private static Dictionary<string, string> CarriedBy(IEnumerable<Batch> batches) =>
        batches.SelectMany(b => b.Items.Select(i => (Key: i.Key!, b.BatchId))).ToDictionary(x => x.Key, x => x.BatchId);
}
