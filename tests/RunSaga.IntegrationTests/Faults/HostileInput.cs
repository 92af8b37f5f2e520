using System.Text;
using System.Text.Json.Nodes;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Faults;

/// <summary>
/// The hostile input the fault campaign mixes into its waves: whole messages RunSaga cannot or must not take, and
/// items inside otherwise good batches that it must reject one by one. Each message kind says where it must end up,
/// so the campaign can explain every message it finds in an <c>_error</c> or <c>_skipped</c> queue.
/// </summary>
internal static class HostileInput
{
    public enum Kind { InvalidJson, InvalidUtf8Key, WrongType, MissingRunId, UnknownMessageType, UnknownRun, DeepJson }

    /// <summary>The queue a message of <paramref name="kind"/> must land in (null: consumed, nothing left behind).</summary>
    public static string? ExpectedQueue(Kind kind) => kind switch
    {
        // Deeper than a message may nest at all (256 levels): unreadable. Items nested 65–256 levels are rejected alone.
        // (An item whose key is not valid UTF-8 is rejected alone too; its batch is staged.)
        Kind.InvalidJson or Kind.DeepJson => "runsaga.staging_error",
        Kind.WrongType or Kind.MissingRunId => "runsaga.runs_error",
        Kind.UnknownMessageType => "runsaga.staging_skipped",
        _ => null,
    };

    /// <summary>
    /// How a message of <paramref name="kind"/> ends its run id: an unreadable batch that names its run fails that run at
    /// once (BATCH_UNREADABLE); the others make no run.
    /// </summary>
    public static string? ExpectedRunError(Kind kind) => kind is Kind.InvalidJson or Kind.DeepJson ? "BATCH_UNREADABLE" : null;

    /// <summary>How many batches a message of <paramref name="kind"/> stages under its run id.</summary>
    public static int ExpectedStagedBatches(Kind kind) => kind is Kind.UnknownRun or Kind.InvalidUtf8Key ? 1 : 0;

    /// <summary>Publishes one hostile message; <paramref name="runId"/> is a run id nobody else uses.</summary>
    public static Task PublishAsync(ScraperPublisher publisher, Kind kind, Guid runId)
    {
        switch (kind)
        {
            case Kind.InvalidJson:
                return Raw(publisher, "ItemsScraped", Envelope("ItemsScraped", $$"""{"runId":"{{runId}}","batchId":"b1","items":[{"key":"""));
            case Kind.InvalidUtf8Key:
            {
                var head = Encoding.UTF8.GetBytes($$"""{"messageType":["{{Urn("ItemsScraped")}}"],"message":{"runId":"{{runId}}","batchId":"b1","items":[{"key":"bad""");
                var tail = Encoding.UTF8.GetBytes("\"}]}}");
                return publisher.PublishRaw("ItemsScraped", (byte[])[.. head, 0xFF, 0xFE, 0xC3, .. tail], ScraperPublisher.EnvelopeContentType);
            }

            case Kind.WrongType:
                return Raw(publisher, "ScrapeCompleted", Envelope("ScrapeCompleted", $$"""{"runId":"{{runId}}","totalItems":"many","totalBatches":1}"""));
            case Kind.MissingRunId:
                return Raw(publisher, "RunStarted", Envelope("RunStarted", $$"""{"source":"chaos-hostile-{{runId:N}}","processType":"ingestion"}"""));
            case Kind.UnknownMessageType:
                return Raw(publisher, "ItemsScraped", Envelope("ItemsScrapedV9", $$"""{"runId":"{{runId}}","batchId":"b1","items":[]}"""));
            case Kind.UnknownRun:
                return publisher.Publish(new ScrapeRun("chaos-hostile", runId: runId).Scraped(new Batch("b1", Items.Numbered(3, "orphan"))));
            case Kind.DeepJson:
            {
                var depth = 300;
                var data = string.Concat(Enumerable.Repeat("{\"d\":", depth)) + "1" + new string('}', depth);
                return Raw(publisher, "ItemsScraped", Envelope("ItemsScraped", $$"""{"runId":"{{runId}}","batchId":"b1","items":[{"key":"deep","data":{{data}}}]}"""));
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    /// <summary>Items every batch of a HostileItems run carries besides its own: each must be rejected, the rest staged.</summary>
    public static List<Item> RejectedItems(string batchId) =>
    [
        new Item(null, "no key"),
        new Item($"nul\u0000{batchId}", "NUL in the key"),
        new Item($"nul-title-{batchId}", "NUL \u0000 in the title"),
        new Item(new string('x', 1025), "key too long"),
        new Item($"array-{batchId}", "data is an array", Data: new JsonArray(1, 2, 3)),
        new Item($"deep-{batchId}", "data nested 100 levels", Data: Items.Nested(100)),
    ];

    /// <summary>Odd but valid items: a 200,000-character title and data nested 40 levels deep. They are staged and promoted.</summary>
    public static List<Item> OddValidItems(Guid runId) =>
    [
        new Item($"huge-{runId:N}", new string('t', 200_000)),
        new Item($"deep-{runId:N}", "data nested 64 levels, the most allowed", Data: Items.Nested(64)),
    ];

    private static string Urn(string name) => ScraperPublisher.MessageUrn(name);

    /// <summary>MassTransit's envelope around <paramref name="message"/> (JSON text, or the start of it).</summary>
    private static string Envelope(string messageName, string message) =>
        "{\"messageType\":[\"" + Urn(messageName) + "\"],\"message\":" + message + (message.EndsWith('}') ? "}" : string.Empty);

    private static Task Raw(ScraperPublisher publisher, string exchange, string body) =>
        publisher.PublishRaw(exchange, Encoding.UTF8.GetBytes(body), ScraperPublisher.EnvelopeContentType);
}
