using System.Text.Json.Nodes;
using RunSaga.IntegrationTests.Broker;

namespace RunSaga.IntegrationTests.Scraping;

/// <summary>One scraped item as it goes on the wire (<c>ItemsScraped.items[]</c>); null fields are left out.</summary>
public sealed record Item(string? Key, string? Title = null, string? Url = null, JsonNode? Data = null, string? Error = null);

/// <summary>One <c>ItemsScraped</c> message's content.</summary>
public sealed record Batch(string BatchId, IReadOnlyList<Item> Items);

/// <summary>Test data: numbered items whose content depends on a revision, cut into batches.</summary>
public static class Items
{
    /// <summary><c>{prefix}-00001</c> … with a title, url and a small data object; <paramref name="revision"/> changes the content.</summary>
    public static List<Item> Numbered(int count, string prefix = "item", int revision = 1, int first = 1) =>
        [.. Enumerable.Range(first, count).Select(i => Numbered(prefix, i, revision))];

    public static Item Numbered(string prefix, int number, int revision = 1) => new(
        $"{prefix}-{number:D5}",
        $"{prefix} {number} rev {revision}",
        $"https://example.test/{prefix}/{number}",
        new JsonObject
        {
            ["number"] = number,
            ["revision"] = revision,
            ["tags"] = new JsonArray("alpha", $"n{number % 7}"),
            ["price"] = new JsonObject { ["amount"] = number * 10 + revision, ["currency"] = "EUR" },
        });

    /// <summary>Item data nested <paramref name="depth"/> levels: <c>{"level": {"level": … {"bottom": true}}}</c>.</summary>
    public static JsonObject Nested(int depth)
    {
        var data = new JsonObject { ["bottom"] = true };
        for (var level = 1; level < depth; level++)
        {
            data = new JsonObject { ["level"] = data };
        }

        return data;
    }

    /// <summary>Batches of at most <paramref name="size"/> items with ids <c>b001</c>, <c>b002</c>, …</summary>
    public static List<Batch> InBatches(this IReadOnlyList<Item> items, int size, string prefix = "b") =>
        [.. items.Chunk(size).Select((chunk, index) => new Batch($"{prefix}{index + 1:D3}", chunk))];
}

/// <summary>
/// The messages of one run as a scraper publishes them (docs/wire-format.md), built as camelCase JSON objects.
/// </summary>
public sealed class ScrapeRun(string source, string processType = "ingestion", Guid? runId = null)
{
    public Guid RunId { get; } = runId ?? Guid.NewGuid();

    public string Source { get; } = source;

    public string ProcessType { get; } = processType;

    public OutgoingMessage Requested(string? idempotencyKey = null) => new("RunRequested", new
    {
        runId = RunId,
        source = Source,
        processType = ProcessType,
        idempotencyKey,
        inputVersion = "it-input",
        pipelineVersion = "it-pipeline",
        requestedBy = "RunSaga.IntegrationTests",
        metadata = new Dictionary<string, string> { ["test"] = "integration" },
    }, RunId);

    /// <summary>RunStarted, with the run's idempotency key when it has one (docs/wire-format.md's checklist).</summary>
    public OutgoingMessage Started(string? idempotencyKey = null) =>
        new("RunStarted", new { runId = RunId, source = Source, processType = ProcessType, idempotencyKey }, RunId);

    public OutgoingMessage Scraped(Batch batch) => new("ItemsScraped", new { runId = RunId, batchId = batch.BatchId, items = batch.Items }, RunId);

    public OutgoingMessage Completed(int totalItems, int totalBatches) =>
        new("ScrapeCompleted", new { runId = RunId, totalItems, totalBatches }, RunId);

    /// <summary>ScrapeCompleted with the true totals of <paramref name="batches"/>.</summary>
    public OutgoingMessage Completed(IReadOnlyCollection<Batch> batches) => Completed(batches.Sum(b => b.Items.Count), batches.Count);

    public OutgoingMessage Failed(string errorCode, string errorMessage, string? errorDetail = null) =>
        new("ScrapeFailed", new { runId = RunId, errorCode, errorMessage, errorDetail }, RunId);

    /// <summary>A whole run in the usual order: requested, started, every batch, completed.</summary>
    public IEnumerable<OutgoingMessage> Whole(IReadOnlyCollection<Batch> batches) =>
        [Requested(), Started(), .. batches.Select(Scraped), Completed(batches)];
}
