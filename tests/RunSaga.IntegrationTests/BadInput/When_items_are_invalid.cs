using System.Text.Json.Nodes;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.BadInput;

/// <summary>
/// Batches that mix valid items with items RunSaga cannot hold: no key, an empty or blank key, a key over 1,024
/// characters, data that is not a JSON object. A key of exactly 1,024 characters is valid.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_items_are_invalid(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_reject_and_count_them_and_stage_the_rest()
    {
        var source = NewSource("invalid-items");
        var longestKey = new string('k', 1024);
        List<Item> valid = [.. Items.Numbered(15), new Item(longestKey, "Longest key", Data: new JsonObject { ["ok"] = true })];
        List<Item> invalid =
        [
            new Item(null, "No key"),
            new Item(string.Empty, "Empty key"),
            new Item("   ", "Blank key"),
            new Item(new string('x', 1025), "Key too long"),
            new Item("data-array", "Array data", Data: new JsonArray(1, 2, 3)),
            new Item("data-string", "String data", Data: JsonValue.Create("not an object")),
            new Item("data-number", "Number data", Data: JsonValue.Create(42)),
        ];
        List<Batch> batches =
        [
            new("b001", [.. valid[..8], .. invalid[..4]]),
            new("b002", [.. invalid[4..], .. valid[8..]]),
        ];
        var run = new ScrapeRun(source);

        var row = await CompleteRun(run, batches);

        Assert.Equal(invalid.Count, row.RejectedItems);
        Assert.Equal(valid.Count, row.StagedItems);
        Assert.Equal(valid.Count, row.Inserted);
        Assert.Equal(valid.Select(i => i.Key).Order(StringComparer.Ordinal),
            (await Db.Projects(source)).Select(p => p.Key).Order(StringComparer.Ordinal));

        // Each rejection and its reason is in the run's metrics (flush step).
        var rejections = row.Step("flush")?["rejections"] as JsonArray;
        Assert.True(rejections is not null, $"the flush step lists no rejections: {row.Metrics}");
        Assert.Equal(invalid.Count, rejections.Count);
        Assert.All(rejections, r => Assert.False(string.IsNullOrWhiteSpace((string?)r!["reason"]), $"a rejection without a reason: {r}"));
        Assert.Equal(["data-array", "data-number", "data-string"],
            rejections.Select(r => (string?)r!["key"]).Where(k => k is not null && k.StartsWith("data-", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
    }
}
