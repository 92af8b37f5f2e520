using System.Text;
using System.Text.Json.Nodes;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Staging;

/// <summary>
/// The staging path as a scraper's bytes meet it: batches published raw on the broker (MassTransit's envelope, and plain
/// JSON with <c>MT-MessageType</c>), read once from those bytes and COPYed into staging. Valid items reach
/// <c>projects</c> with their data exactly as jsonb reads what was sent; every other item is rejected alone, with the
/// reason docs/wire-format.md gives; a key repeated in a batch or across batches counts once, the last copy winning.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_batch_is_copied_into_staging(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_stage_the_valid_items_of_a_mixed_batch_as_sent_and_reject_each_other_item_with_its_reason()
    {
        var run = new ScrapeRun(NewSource("copy-mixed"));
        // Each line one item, as a scraper's JSON library (or a careless one) writes it. The valid ones, with their data.
        (string Key, string Json, string? Data)[] valid =
        [
            ("ok-1", """{"key":"ok-1","title":"T1","url":"https://example.test/1","data":{"b":1,"a":[1,2,{"c":"é"}]}}""", """{"b":1,"a":[1,2,{"c":"é"}]}"""),
            ("ok-2", """{"KEY":"ok-2","Title":"field names in any case","data":null}""", null),
            ("ok-3", """{"key":"ok-3","data":{"escaped":"caf\u00e9 \"quoted\" \ud83d\ude00","n":1.50,"deep":[[[[{"x":true}]]]]}}""", """{"escaped":"caf\u00e9 \"quoted\" \ud83d\ude00","n":1.50,"deep":[[[[{"x":true}]]]]}"""),
            ("ok-4", """{"key":"ok-4","error":"","unknown":{"ignored":[1,2,3]},"data":{}}""", "{}"),
        ];
        (string? Key, string Json, string Reason)[] rejected =
        [
            ("nul-key\u2400", """{"key":"nul-key\u0000"}""", "contains a NUL character"),
            ("nul-data", """{"key":"nul-data","data":{"x":"a\u0000b"}}""", "contains a NUL character"),
            ("surrogate", """{"key":"surrogate","data":{"x":"\ud800"}}""", "data contains invalid Unicode (an unpaired surrogate escape)"),
            ("comment", """{"key":"comment","data":{"x":1 /* a comment */}}""", "data is not strict JSON (a comment or a trailing comma), which jsonb cannot read"),
            ("trailing", """{"key":"trailing","data":{"x":[1,2,]}}""", "data is not strict JSON (a comment or a trailing comma), which jsonb cannot read"),
            ("array", """{"key":"array","data":[1]}""", "data must be a JSON object"),
            (null, """{"key":42}""", "key must be a JSON string (or null), not a number"),
            (null, """{"title":"no key"}""", "missing key"),
            (null, "null", "the item is null"),
            (null, "\"just a string\"", "the item must be a JSON object, not a string"),
        ];

        // One item whose data holds bytes that are not UTF-8: only raw bytes can carry them.
        var items = new List<byte[]>([.. valid.Select(v => Encoding.UTF8.GetBytes(v.Json)), .. rejected.Select(r => Encoding.UTF8.GetBytes(r.Json))]);
        items.Insert(3, [.. """{"key":"bad-utf8","data":{"x":" """u8.ToArray(), 0xFF, 0xFE, .. "\"}}"u8.ToArray()]);

        await Publisher.Publish([run.Requested(), run.Started()]);
        await Publisher.PublishRaw("ItemsScraped", Envelope(run.RunId, "b1", items), ScraperPublisher.EnvelopeContentType);
        await Publisher.Publish(run.Completed(items.Count, 1));
        var row = await ExpectCompleted(run.RunId);

        Assert.Equal((valid.Length, rejected.Length + 1, valid.Length), (row.StagedItems, row.RejectedItems, row.Inserted));
        var projects = await Db.Query(
            "SELECT key, title, url, data::text, error FROM runsaga.projects WHERE source = @p0 ORDER BY key",
            r => (Key: r.GetString(0), Title: r.IsDBNull(1) ? null : r.GetString(1), Url: r.IsDBNull(2) ? null : r.GetString(2),
                Data: r.IsDBNull(3) ? null : r.GetString(3), Error: r.IsDBNull(4) ? null : r.GetString(4)),
            run.Source);
        Assert.Equal(valid.Select(v => v.Key), projects.Select(p => p.Key));
        Assert.Equal(("T1", "https://example.test/1"), (projects[0].Title, projects[0].Url));
        Assert.Equal("field names in any case", projects[1].Title);
        Assert.Null(projects[3].Error);
        foreach (var (key, _, data) in valid)
        {
            // The data as PostgreSQL itself reads the JSON that was sent.
            var expected = data is null ? null : (await Db.Query("SELECT @p0::jsonb::text", r => r.GetString(0), data)).Single();
            Assert.Equal(expected, projects.Single(p => p.Key == key).Data);
        }

        Assert.Equal(valid.Length, await Db.Count(
            $"SELECT count(*) FROM runsaga.projects WHERE source = @p0 AND content_hash = md5({Hash})", run.Source));

        var reasons = (row.Step("flush")?["rejections"] as JsonArray)?
            .Select(r => ((string?)r!["key"], (string?)r!["reason"])).ToList() ?? [];
        Assert.Equal(
            [.. rejected.Select(r => (r.Key, (string?)r.Reason)), ("bad-utf8", "data contains invalid UTF-8")],
            reasons.OrderBy(r => r.Item2 == "data contains invalid UTF-8").ToList());
    }

    [Fact]
    public async Task Should_keep_the_last_copy_of_a_key_repeated_in_a_batch_and_across_batches()
    {
        var run = new ScrapeRun(NewSource("copy-repeats"));
        await Publisher.Publish([run.Requested(), run.Started()]);
        await Publisher.PublishRaw("ItemsScraped", Envelope(run.RunId, "b1",
        [
            """{"key":"k1","title":"k1 first","data":{"v":1}}"""u8.ToArray(),
            """{"key":"k2","title":"k2 from b1"}"""u8.ToArray(),
            """{"key":"k1","title":"k1 last","data":{"v":2}}"""u8.ToArray(),
        ]), ScraperPublisher.EnvelopeContentType);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", run.RunId);

        // The second batch as plain JSON: k2 again (staged by b1: the upsert replaces it), and a new key.
        var plain = Encoding.UTF8.GetBytes($$"""{"runId":"{{run.RunId}}","batchId":"b2","items":[{"key":"k2","title":"k2 from b2"},{"key":"k3","title":"k3"}]}""");
        await Publisher.PublishRaw("ItemsScraped", plain, ScraperPublisher.PlainJsonContentType,
            new Dictionary<string, object?> { [ScraperPublisher.MessageTypeHeader] = Encoding.UTF8.GetBytes(ScraperPublisher.MessageUrn("ItemsScraped")) });
        await Publisher.Publish(run.Completed(5, 2));
        var row = await ExpectCompleted(run.RunId);

        Assert.Equal((3, 0, 3), (row.StagedItems, row.RejectedItems, row.Inserted));
        var projects = await Db.Query(
            "SELECT key, title, data::text, batch_id FROM runsaga.projects WHERE source = @p0 ORDER BY key",
            r => (r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetString(3)), run.Source);
        Assert.Equal([("k1", "k1 last", """{"v": 2}""", "b1"), ("k2", "k2 from b2", null, "b2"), ("k3", "k3", null, "b2")], projects);
        Assert.Equal(2L, await Db.Count("SELECT sum(duplicate_count) FROM runsaga.staged_batches WHERE run_id = @p0", run.RunId));
    }

    [Fact]
    public async Task Should_stage_a_batch_of_10000_items_whole()
    {
        const int count = 10_000;
        var run = new ScrapeRun(NewSource("copy-10k"));
        var items = Enumerable.Range(1, count)
            .Select(i => Encoding.UTF8.GetBytes($$$"""{"key":"item-{{{i:D5}}}","title":"Item {{{i}}}","url":"https://example.test/items/{{{i}}}","data":{"price":{{{i}}}.99,"tags":["a","b"],"note":"ünïcödé {{{i}}}"}}"""))
            .ToList();
        await Publisher.Publish([run.Requested(), run.Started()]);
        await Publisher.PublishRaw("ItemsScraped", Envelope(run.RunId, "b1", items), ScraperPublisher.EnvelopeContentType);
        await Publisher.Publish(run.Completed(count, 1));
        var row = await ExpectCompleted(run.RunId, TimeSpan.FromSeconds(120));

        Assert.Equal((count, 0, count), (row.StagedItems, row.RejectedItems, row.Inserted));
        Assert.Equal(count, await Db.Count($"""
            SELECT count(*) FROM runsaga.projects
            WHERE source = @p0 AND title = 'Item ' || ltrim(substr(key, 6), '0') AND data->>'note' = 'ünïcödé ' || ltrim(substr(key, 6), '0')
              AND content_hash = md5({Hash})
            """, run.Source));
    }

    [Fact]
    public async Task Should_stage_items_larger_than_a_copy_chunk_whole()
    {
        var run = new ScrapeRun(NewSource("copy-large"));
        var longTitle = string.Concat(Enumerable.Repeat("é", 50_000));
        var bigData = new string('d', 200_000);
        await Publisher.Publish([run.Requested(), run.Started()]);
        await Publisher.PublishRaw("ItemsScraped", Envelope(run.RunId, "b1",
        [
            """{"key":"small-1","title":"before"}"""u8.ToArray(),
            Encoding.UTF8.GetBytes($$$"""{"key":"big-data","data":{"blob":"{{{bigData}}}"}}"""),
            Encoding.UTF8.GetBytes($$"""{"key":"long-title","title":"{{longTitle}}"}"""),
            """{"key":"small-2","title":"after"}"""u8.ToArray(),
        ]), ScraperPublisher.EnvelopeContentType);
        await Publisher.Publish(run.Completed(4, 1));
        var row = await ExpectCompleted(run.RunId);

        Assert.Equal((4, 0, 4), (row.StagedItems, row.RejectedItems, row.Inserted));
        var projects = await Db.Query(
            "SELECT key, coalesce(length(title), 0), coalesce(length(data->>'blob'), 0) FROM runsaga.projects WHERE source = @p0 ORDER BY key",
            r => (r.GetString(0), r.GetInt32(1), r.GetInt32(2)), run.Source);
        Assert.Equal([("big-data", 0, 200_000), ("long-title", 50_000, 0), ("small-1", 6, 0), ("small-2", 5, 0)], projects);
    }

    /// <summary>The content hash as docs/architecture.md defines it, over a row's stored fields.</summary>
    private const string Hash = "coalesce(title, '') || chr(31) || coalesce(url, '') || chr(31) || coalesce(data::text, '')";

    /// <summary>MassTransit's envelope around a batch whose items are the given bytes, each as it is.</summary>
    private static byte[] Envelope(Guid runId, string batchId, IReadOnlyList<byte[]> items)
    {
        var body = new List<byte>(Encoding.UTF8.GetBytes(
            $$"""{"messageType":["{{ScraperPublisher.MessageUrn("ItemsScraped")}}"],"message":{"runId":"{{runId}}","batchId":"{{batchId}}","items":["""));
        for (var i = 0; i < items.Count; i++)
        {
            if (i > 0)
            {
                body.Add((byte)',');
            }

            body.AddRange(items[i]);
        }

        body.AddRange("]}}"u8.ToArray());
        return [.. body];
    }
}
