using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Api;

/// <summary>
/// The readers' routes behind the page's source view, fleet chart, search box and "waiting for" sentence, over plain HTTP
/// with runs published as a scraper publishes them: <c>GET /sources/{source}</c>, <c>GET /runs/hourly</c>,
/// <c>GET /runs/search</c>, and the deadlines, internal state and live staged count of <c>GET /runs/{id}</c>.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_operators_read_a_source_the_fleet_and_search(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_show_a_sources_runs_with_counts_durations_and_retention_in_pages()
    {
        var source = NewSource("api-source");
        var first = await Seed(source, Items.Numbered(5));
        var second = await CompleteRun(new ScrapeRun(source),
            [new Batch("b001", [.. Items.Numbered(4, revision: 2), new Item(null, "No key"), new Item("bad", Error: "upstream 500")])]);
        var failed = new ScrapeRun(source);
        // Its batch staged first: a batch that arrives after the run failed is refused.
        await Publisher.Publish([failed.Requested(), failed.Started(), failed.Scraped(new Batch("b001", Items.Numbered(3)))]);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", failed.RunId);
        await Publisher.Publish([failed.Failed("UPSTREAM_UNAVAILABLE", "503")]);
        await ExpectFailed(failed.RunId, "UPSTREAM_UNAVAILABLE");
        using var api = Stack.Api("reader");
        // Each completed run applies retention to its source after it completed: the newest cycle is the second run's.
        JsonElement detail = default;
        await Eventually(async () =>
        {
            detail = await api.GetFromJsonAsync<JsonElement>($"sources/{source}");
            return detail.GetProperty("retention").GetProperty("lastCycle") is { ValueKind: JsonValueKind.Object } cycle
                && cycle.GetProperty("runId").GetGuid() == second.Id && cycle.GetProperty("finishedAt").ValueKind == JsonValueKind.String;
        }, "the second run's retention cycle is the source's last");

        var summary = detail.GetProperty("summary");
        Assert.Equal(source, summary.GetProperty("source").GetString());
        Assert.Equal("failing", summary.GetProperty("health").GetString());
        Assert.Contains(failed.RunId.ToString(), summary.GetProperty("healthReason").GetString(), StringComparison.Ordinal);
        Assert.Equal(6, summary.GetProperty("items").GetInt64());
        var runs = detail.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal([failed.RunId, second.Id, first.Id], runs.Select(r => r.GetProperty("id").GetGuid()));
        Assert.Equal(JsonValueKind.Null, detail.GetProperty("nextCursor").ValueKind);
        // The failed run never flushed: its staged count is what staging holds of it.
        Assert.Equal(("Failed", 3, "UPSTREAM_UNAVAILABLE"), (runs[0].GetProperty("status").GetString(), runs[0].GetProperty("stagedItems").GetInt32(),
            runs[0].GetProperty("errorCode").GetString()));
        Assert.Equal(JsonValueKind.Null, runs[0].GetProperty("inserted").ValueKind);
        Assert.Equal((5, 1, 1, 4), (runs[1].GetProperty("stagedItems").GetInt32(), runs[1].GetProperty("rejectedItems").GetInt32(),
            runs[1].GetProperty("errored").GetInt32(), runs[1].GetProperty("updated").GetInt32()));
        Assert.All(runs, r => Assert.True(r.GetProperty("durationSeconds").GetDouble() >= 0, $"no duration: {r}"));

        var retention = detail.GetProperty("retention");
        Assert.False(retention.GetProperty("withheld").GetBoolean());
        Assert.True(retention.GetProperty("keepRuns").GetInt32() >= 1);
        Assert.False(string.IsNullOrEmpty(retention.GetProperty("schedule").GetString()));
        Assert.True(retention.GetProperty("nextScheduledCycle").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(-1));
        // Two runs are fewer than KEEP_RUNS: the cycle deleted nothing, and says why.
        var lastCycle = retention.GetProperty("lastCycle");
        Assert.Equal(("skipped", 0), (lastCycle.GetProperty("outcome").GetString(), lastCycle.GetProperty("projectsDeleted").GetInt32()));
        Assert.False(string.IsNullOrEmpty(lastCycle.GetProperty("reason").GetString()));

        // Keyset pages: two, then the last one, no gap and no repeat.
        var page1 = await api.GetFromJsonAsync<JsonElement>($"sources/{source}?limit=2");
        var cursor = page1.GetProperty("nextCursor").GetString();
        var page2 = await api.GetFromJsonAsync<JsonElement>($"sources/{source}?limit=2&cursor={cursor}");
        Assert.Equal([failed.RunId, second.Id], page1.GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("id").GetGuid()));
        Assert.Equal([first.Id], page2.GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("id").GetGuid()));
        Assert.Equal(JsonValueKind.Null, page2.GetProperty("nextCursor").ValueKind);
    }

    [Fact]
    public async Task Should_show_why_a_source_is_withheld()
    {
        var source = NewSource("api-source-withheld");
        var run = await Seed(source, Items.Numbered(2));
        await Db.Execute(
            "INSERT INTO runsaga.source_retention (source, withheld, withheld_by_run_id, withheld_at, withheld_reason) VALUES (@p0, true, @p1, now(), 'test: small run')",
            source, run.Id);
        using var api = Stack.Api("reader");

        var retention = (await api.GetFromJsonAsync<JsonElement>($"sources/{source}")).GetProperty("retention");

        Assert.True(retention.GetProperty("withheld").GetBoolean());
        Assert.Equal("test: small run", retention.GetProperty("withheldReason").GetString());
        Assert.Equal(run.Id, retention.GetProperty("withheldByRunId").GetGuid());
    }

    [Theory]
    [InlineData("sources/it-no-such-source-anywhere", HttpStatusCode.NotFound)]
    [InlineData("sources/{source}?limit=0", HttpStatusCode.BadRequest)]
    [InlineData("sources/{source}?limit=501", HttpStatusCode.BadRequest)]
    [InlineData("sources/{source}?cursor=not-a-cursor", HttpStatusCode.BadRequest)]
    [InlineData("runs/hourly?hours=0", HttpStatusCode.BadRequest)]
    [InlineData("runs/hourly?hours=169", HttpStatusCode.BadRequest)]
    [InlineData("runs/search", HttpStatusCode.BadRequest)]
    [InlineData("runs/search?q=%20", HttpStatusCode.BadRequest)]
    [InlineData("runs/search?q=k&limit=0", HttpStatusCode.BadRequest)]
    [InlineData("runs/search?q=k&limit=501", HttpStatusCode.BadRequest)]
    [InlineData("runs/search?q=k&cursor=not-a-cursor", HttpStatusCode.BadRequest)]
    public async Task Should_answer_a_problem_for_an_unknown_source_and_bad_parameters(string path, HttpStatusCode expected)
    {
        var source = NewSource("api-source-bad");
        await Seed(source, Items.Numbered(1));
        using var api = Stack.Api("reader");

        using var response = await api.GetAsync(path.Replace("{source}", source, StringComparison.Ordinal));

        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("sources/some-source")]
    [InlineData("runs/hourly")]
    [InlineData("runs/search?q=anything")]
    public async Task Should_refuse_a_call_without_a_key(string path)
    {
        using var anonymous = Stack.Api(null);
        using var response = await anonymous.GetAsync(path);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Should_count_the_fleets_runs_per_hour_by_outcome()
    {
        using var api = Stack.Api("reader");
        var source = NewSource("api-hourly");
        var before = Totals(await api.GetFromJsonAsync<JsonElement>("runs/hourly"));
        await Seed(source, Items.Numbered(2));
        await Seed(source, Items.Numbered(2));
        var failed = new ScrapeRun(source);
        await Publisher.Publish([failed.Requested(), failed.Failed("UPSTREAM_UNAVAILABLE", "503")]);
        await ExpectFailed(failed.RunId, "UPSTREAM_UNAVAILABLE");
        var open = new ScrapeRun(source);
        await Publisher.Publish([open.Requested(), open.Started()]);
        await Db.WaitForRun(open.RunId, r => r.Status == "Running", "Running");

        var hourly = await api.GetFromJsonAsync<JsonElement>("runs/hourly");
        var week = await api.GetFromJsonAsync<JsonElement>("runs/hourly?hours=168");

        Assert.Equal((24, "createdAt"), (hourly.GetProperty("hours").GetInt32(), hourly.GetProperty("basis").GetString()));
        var buckets = hourly.GetProperty("buckets").EnumerateArray().ToList();
        Assert.Equal(24, buckets.Count);
        var hours = buckets.Select(b => b.GetProperty("hour").GetDateTimeOffset()).ToList();
        Assert.All(hours.Zip(hours.Skip(1)), pair => Assert.Equal(TimeSpan.FromHours(1), pair.Second - pair.First));
        var now = DateTimeOffset.UtcNow;
        Assert.Equal(new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, 0, 0, TimeSpan.Zero), hours[^1]);
        Assert.Equal(168, week.GetProperty("buckets").GetArrayLength());
        // Other specs' runs may end meanwhile (an open one of theirs completing), so compare what this spec added.
        var after = Totals(hourly);
        Assert.True(after.Completed >= before.Completed + 2, $"completed {before.Completed} → {after.Completed}");
        Assert.True(after.Failed >= before.Failed + 1, $"failed {before.Failed} → {after.Failed}");
        Assert.True(after.All == before.All + 4, $"runs {before.All} → {after.All}");
        Assert.True(after.Open >= 1, "the running run is open");
    }

    [Fact]
    public async Task Should_find_runs_by_id_idempotency_key_and_folder_name()
    {
        var source = NewSource("api-search");
        var key = $"{source}:v1:p1";
        var failed = new ScrapeRun(source);
        await Publisher.Publish([failed.Requested(key), failed.Started(key), failed.Failed("UPSTREAM_UNAVAILABLE", "503")]);
        await ExpectFailed(failed.RunId, "UPSTREAM_UNAVAILABLE");
        var retry = new ScrapeRun(source);
        var batches = Items.Numbered(2).InBatches(20);
        await Publisher.Publish([retry.Requested(key), retry.Started(key), .. batches.Select(retry.Scraped), retry.Completed(batches)]);
        var completed = await ExpectCompleted(retry.RunId);
        using var api = Stack.Api("reader");

        Assert.Equal([retry.RunId], await Search(api, retry.RunId.ToString()));
        Assert.Equal([retry.RunId], await Search(api, retry.RunId.ToString("N").ToUpperInvariant()));
        Assert.Equal([retry.RunId, failed.RunId], await Search(api, key));
        Assert.Equal([retry.RunId], await Search(api, completed.FolderName!));
        Assert.Empty(await Search(api, $"{source}:v9:p9"));
        // A folder name is matched whole: the right run id with another time is not its folder.
        Assert.Empty(await Search(api, $"19990101_000000_{retry.RunId}"));

        var page = await api.GetFromJsonAsync<JsonElement>($"runs/search?q={Uri.EscapeDataString(key)}&limit=1");
        var rest = await api.GetFromJsonAsync<JsonElement>($"runs/search?q={Uri.EscapeDataString(key)}&limit=1&cursor={page.GetProperty("nextCursor").GetString()}");
        Assert.Equal(retry.RunId, page.GetProperty("items")[0].GetProperty("id").GetGuid());
        Assert.Equal(failed.RunId, rest.GetProperty("items")[0].GetProperty("id").GetGuid());
        Assert.Equal(JsonValueKind.Null, rest.GetProperty("nextCursor").ValueKind);
    }

    [Fact]
    public async Task Should_show_an_open_runs_deadlines_state_and_batches_staged_so_far()
    {
        var source = NewSource("api-waiting");
        var run = new ScrapeRun(source);
        var batches = Items.Numbered(6).InBatches(2);
        await Publisher.Publish([run.Requested(), run.Started()]);
        await Db.WaitForRun(run.RunId, r => r.Status == "Running", "Running");
        using var api = Stack.Api("reader");

        var running = await api.GetFromJsonAsync<JsonElement>($"runs/{run.RunId}");
        Assert.Equal("Running", running.GetProperty("state").GetString());
        Assert.True(running.GetProperty("times").GetProperty("runDeadline").GetDateTimeOffset() > DateTimeOffset.UtcNow);
        Assert.Equal(JsonValueKind.Null, running.GetProperty("times").GetProperty("flushDeadline").ValueKind);

        // One of three batches, then the completion: the flush waits (FLUSH_TIMEOUT) for the two missing ones.
        await Publisher.Publish([run.Scraped(batches[0]), run.Completed(batches)]);
        JsonElement flushing = default;
        await Eventually(async () =>
        {
            flushing = await api.GetFromJsonAsync<JsonElement>($"runs/{run.RunId}");
            return flushing.GetProperty("state").GetString() == "Flushing"
                && flushing.GetProperty("counts").GetProperty("stagedBatches").ValueKind == JsonValueKind.Number;
        }, "the run is Flushing with its first batch staged", pollInterval: TimeSpan.FromMilliseconds(50));
        Assert.Equal("Running", flushing.GetProperty("status").GetString());
        Assert.Equal(3, flushing.GetProperty("counts").GetProperty("expectedBatches").GetInt32());
        Assert.Equal(1, flushing.GetProperty("counts").GetProperty("stagedBatches").GetInt32());
        Assert.True(flushing.GetProperty("counts").GetProperty("fromStaging").GetBoolean());
        Assert.Equal(JsonValueKind.String, flushing.GetProperty("times").GetProperty("flushDeadline").ValueKind);

        var ended = await ExpectFailed(run.RunId, "FLUSH_INCOMPLETE");
        var failed = await api.GetFromJsonAsync<JsonElement>($"runs/{run.RunId}");
        Assert.Equal(("Failed", "Failed"), (failed.GetProperty("state").GetString(), failed.GetProperty("status").GetString()));
        Assert.Equal(JsonValueKind.Null, failed.GetProperty("times").GetProperty("flushDeadline").ValueKind);
        Assert.Null(ended.FlushedAt);
    }

    private static async Task<List<Guid>> Search(HttpClient api, string q) =>
        [.. (await api.GetFromJsonAsync<JsonElement>($"runs/search?q={Uri.EscapeDataString(q)}")).GetProperty("items").EnumerateArray()
            .Select(r => r.GetProperty("id").GetGuid())];

    private static (long Completed, long Failed, long Open, long All) Totals(JsonElement hourly)
    {
        var buckets = hourly.GetProperty("buckets").EnumerateArray().ToList();
        long Sum(string name) => buckets.Sum(b => b.GetProperty(name).GetInt64());
        return (Sum("completed"), Sum("failed"), Sum("open"), Sum("completed") + Sum("failed") + Sum("cancelled") + Sum("open"));
    }
}
