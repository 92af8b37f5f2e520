using System.Text.Json;
using RunSaga.Contracts;

namespace RunSaga.Consumers.Tests.Infrastructure;

/// <summary>Builds scraper messages for the specs.</summary>
public static class Scrape
{
    public static ScrapedItem Item(string? key, string? title = null, string? url = null, string? data = null, string? error = null) => new()
    {
        Key = key,
        Title = title ?? (key is null ? null : $"title of {key}"),
        Url = url,
        Data = data is null ? null : JsonDocument.Parse(data, new JsonDocumentOptions { MaxDepth = 256 }).RootElement.Clone(),
        Error = error,
    };

    public static ItemsScraped Batch(Guid runId, string batchId, params ScrapedItem[] items) =>
        new() { RunId = runId, BatchId = batchId, Items = items };

    public static ItemsScraped Batch(Guid runId, string batchId, IEnumerable<string> keys) =>
        new() { RunId = runId, BatchId = batchId, Items = keys.Select(k => Item(k)).ToArray() };

    public static FlushRun Announce(Guid runId, int items, int batches) =>
        new() { RunId = runId, ExpectedItems = items, ExpectedBatches = batches };

    /// <summary>A source name no other test of the class uses.</summary>
    public static string NewSource() => $"source-{Guid.NewGuid():N}";
}
