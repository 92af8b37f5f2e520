using System.Text;
using System.Text.Json.Nodes;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.BadInput;

/// <summary>
/// Mistakes a scraper written from docs/wire-format.md alone makes, sent as raw JSON: each fails fast with its reason
/// (a wrongly typed item alone is rejected; a batch that cannot be read fails its run at once with BATCH_UNREADABLE),
/// never by waiting for FLUSH_TIMEOUT to say FLUSH_INCOMPLETE.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_scraper_makes_a_mistake(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_reject_only_the_item_whose_field_has_the_wrong_type()
    {
        var run = new ScrapeRun(NewSource("typed-items"));
        var body = $$$"""
            {"messageType": ["urn:message:RunSaga.Contracts:ItemsScraped"],
             "message": {"runId": "{{{run.RunId}}}", "batchId": "b1", "items": [
                {"key": "good-1", "title": "fine"},
                {"key": 42, "title": "a numeric key"},
                {"key": "bad-title", "title": {"text": "an object"}},
                "not an item",
                {"key": "good-2", "url": "https://example.com/2", "data": {"price": 3}}
             ]}}
            """;
        await Publisher.Publish([run.Requested(), run.Started()]);
        await Publisher.PublishRaw("ItemsScraped", Encoding.UTF8.GetBytes(body), ScraperPublisher.EnvelopeContentType);
        await Publisher.Publish(run.Completed(totalItems: 5, totalBatches: 1));

        var row = await ExpectCompleted(run.RunId);
        Assert.Equal((2, 3, 2), (row.StagedItems, row.RejectedItems, row.Inserted));
        var reasons = (row.Step("flush")?["rejections"] as JsonArray ?? []).Select(r => (string?)r!["reason"]).ToList();
        Assert.Contains("key must be a JSON string (or null), not a number", reasons);
        Assert.Contains("title must be a JSON string (or null), not an object", reasons);
        Assert.Contains("the item must be a JSON object, not a string", reasons);
    }

    [Fact]
    public async Task Should_reject_only_the_item_whose_key_is_not_valid_utf8()
    {
        var run = new ScrapeRun(NewSource("utf8-key"));
        await Publisher.Publish([run.Requested(), run.Started()]);
        var head = Encoding.UTF8.GetBytes($$$"""{"messageType":["urn:message:RunSaga.Contracts:ItemsScraped"],"message":{"runId":"{{{run.RunId}}}","batchId":"b1","items":[{"key":"good"},{"key":"bad""");
        var tail = Encoding.UTF8.GetBytes("\"}]}}");
        await Publisher.PublishRaw("ItemsScraped", (byte[])[.. head, 0xFF, 0xFE, 0xC3, .. tail], ScraperPublisher.EnvelopeContentType);
        await Publisher.Publish(run.Completed(totalItems: 2, totalBatches: 1));

        var row = await ExpectCompleted(run.RunId);
        Assert.Equal((1, 1), (row.StagedItems, row.RejectedItems));
        var reasons = (row.Step("flush")?["rejections"] as JsonArray ?? []).Select(r => (string?)r!["reason"]).ToList();
        Assert.Contains("key is not valid Unicode (invalid UTF-8, or an unpaired surrogate escape)", reasons);
    }

    [Fact]
    public async Task Should_fail_the_run_at_once_when_its_batch_cannot_be_read()
    {
        var run = new ScrapeRun(NewSource("unreadable"));
        await Publisher.Publish([run.Requested(), run.Started()]);
        var body = $$$"""
            {"messageType": ["urn:message:RunSaga.Contracts:ItemsScraped"],
             "message": {"runId": "{{{run.RunId}}}", "batchId": 7, "items": [{"key": "a"}]}}
            """;
        await Publisher.PublishRaw("ItemsScraped", Encoding.UTF8.GetBytes(body), ScraperPublisher.EnvelopeContentType);

        // No ScrapeCompleted: the run cannot be waiting on a flush; only the unreadable batch can end it.
        var row = await ExpectFailed(run.RunId, "BATCH_UNREADABLE");
        Assert.Contains("batchId", row.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("docs/wire-format.md", row.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_say_what_to_change_when_a_bare_body_claims_the_envelope()
    {
        var run = new ScrapeRun(NewSource("bare-envelope"));
        await Publisher.Publish([run.Requested(), run.Started()]);
        var body = $$$"""{"runId": "{{{run.RunId}}}", "batchId": "b1", "items": [{"key": "a"}]}""";
        await Publisher.PublishRaw("ItemsScraped", Encoding.UTF8.GetBytes(body), ScraperPublisher.EnvelopeContentType);

        var row = await ExpectFailed(run.RunId, "BATCH_UNREADABLE");
        Assert.Contains("bare ItemsScraped", row.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("application/json", row.ErrorMessage, StringComparison.Ordinal);
    }
}
