using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Api;

/// <summary>The operator API of the real Orchestrator, against the real database and broker.</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_operators_use_the_api(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Theory]
    [InlineData(null, "GET", "runs", HttpStatusCode.Unauthorized)]
    [InlineData("not-a-key-at-all-0000", "GET", "runs", HttpStatusCode.Unauthorized)]
    [InlineData("reader", "GET", "runs", HttpStatusCode.OK)]
    [InlineData("reader", "POST", "retention/apply", HttpStatusCode.Forbidden)]
    [InlineData("operator", "POST", "retention/apply", HttpStatusCode.Accepted)]
    [InlineData("operator", "DELETE", "runs/00000000-0000-0000-0000-000000000001?reason=x", HttpStatusCode.Forbidden)]
    [InlineData("admin", "DELETE", "runs/00000000-0000-0000-0000-000000000001?reason=x", HttpStatusCode.Accepted)]
    public async Task Should_let_each_role_do_what_it_may_and_answer_the_rest_with_a_problem(string? key, string method, string path, HttpStatusCode expected)
    {
        using var api = Stack.Api(key);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST")
        {
            request.Content = JsonContent.Create(new { source = "it-nothing", dryRun = true });
        }

        using var response = await api.SendAsync(request);

        Assert.Equal(expected, response.StatusCode);
        if ((int)expected >= 400)
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal((int)expected, problem.RootElement.GetProperty("status").GetInt32());
            Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("detail").GetString()));
        }
    }

    /// <summary>Every endpoint but health, OpenAPI and metrics needs a key; every changing one more than a reader's.</summary>
    [Theory]
    [InlineData("GET", "runs", false)]
    [InlineData("GET", "runs/00000000-0000-0000-0000-000000000001", false)]
    [InlineData("GET", "runs/00000000-0000-0000-0000-000000000001/changes", false)]
    [InlineData("GET", "runs/00000000-0000-0000-0000-000000000001/archive", false)]
    [InlineData("GET", "runs/archived", false)]
    [InlineData("GET", "sources", false)]
    [InlineData("GET", "projects/s/k", false)]
    [InlineData("GET", "projects/s/k/lineage", false)]
    [InlineData("POST", "runs", true)]
    [InlineData("POST", "runs/00000000-0000-0000-0000-000000000001/archive", true)]
    [InlineData("POST", "runs/00000000-0000-0000-0000-000000000001/restore", true)]
    [InlineData("POST", "runs/00000000-0000-0000-0000-000000000001/pin", true)]
    [InlineData("DELETE", "runs/00000000-0000-0000-0000-000000000001?reason=x", true)]
    [InlineData("POST", "sources/s/retention/release", true)]
    [InlineData("POST", "retention/apply", true)]
    public async Task Should_refuse_every_endpoint_without_a_key_and_every_change_to_a_reader(string method, string path, bool changes)
    {
        using var anonymous = Stack.Api(null);
        using var reader = Stack.Api("reader");

        using var withoutKey = await anonymous.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = JsonContent.Create(new { }) });
        using var asReader = await reader.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = JsonContent.Create(new { }) });

        Assert.Equal(HttpStatusCode.Unauthorized, withoutKey.StatusCode);
        if (changes)
        {
            Assert.Equal(HttpStatusCode.Forbidden, asReader.StatusCode);
        }
        else
        {
            Assert.NotEqual(HttpStatusCode.Forbidden, asReader.StatusCode);
            Assert.NotEqual(HttpStatusCode.Unauthorized, asReader.StatusCode);
        }
    }

    [Fact]
    public async Task Should_answer_health_without_a_key()
    {
        using var anonymous = Stack.Api(null);

        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("health/ready")).StatusCode);
    }

    [Fact]
    public async Task Should_show_a_failing_and_a_withheld_source_and_release_and_pin_by_command()
    {
        var failing = NewSource("api-failing");
        await Seed(failing, Items.Numbered(2));
        var failed = new ScrapeRun(failing);
        await Publisher.Publish([failed.Requested(), failed.Started(), failed.Failed("UPSTREAM_UNAVAILABLE", "503")]);
        await ExpectFailed(failed.RunId, "UPSTREAM_UNAVAILABLE");
        var withheld = NewSource("api-withheld");
        var run = await Seed(withheld, Items.Numbered(2));
        await Db.Execute(
            "INSERT INTO runsaga.source_retention (source, withheld, withheld_by_run_id, withheld_reason) VALUES (@p0, true, @p1, 'test: small run')",
            withheld, run.Id);
        using var api = Stack.Api("operator");

        var sources = (await api.GetFromJsonAsync<JsonElement>("sources")).EnumerateArray().ToDictionary(s => s.GetProperty("source").GetString()!);

        Assert.Equal("failing", sources[failing].GetProperty("health").GetString());
        Assert.Equal("withheld", sources[withheld].GetProperty("health").GetString());

        Assert.Equal(HttpStatusCode.Accepted, (await api.PostAsync($"sources/{withheld}/retention/release", null)).StatusCode);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.source_retention WHERE source = @p0 AND NOT withheld AND released_by = 'api:it-operator'", withheld);
        Assert.Equal(HttpStatusCode.Accepted,
            (await api.PostAsJsonAsync($"runs/{run.Id}/pin", new { until = DateTimeOffset.UtcNow.AddDays(2) })).StatusCode);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND pinned_until > now() + interval '1 day'", run.Id);
    }

    [Fact]
    public async Task Should_page_runs_newest_first_without_gaps_or_repeats()
    {
        var source = NewSource("api-pages");
        var ids = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add((await Seed(source, Items.Numbered(2))).Id);
        }

        using var api = Stack.Api("reader");
        var seen = new List<Guid>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await api.GetFromJsonAsync<JsonElement>($"runs?source={source}&limit=2{(cursor is null ? "" : $"&cursor={cursor}")}");
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(r => r.GetProperty("id").GetGuid()));
            cursor = page.GetProperty("nextCursor").ValueKind == JsonValueKind.Null ? null : page.GetProperty("nextCursor").GetString();
            pages++;
        }
        while (cursor is not null);

        Assert.Equal(3, pages);
        Assert.Equal(Enumerable.Reverse(ids), seen);
        var completed = await api.GetFromJsonAsync<JsonElement>($"runs?source={source}&status=Completed&processType=ingestion");
        Assert.Equal(5, completed.GetProperty("items").GetArrayLength());
        using var bad = await api.GetAsync("runs?status=Sleeping");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task Should_show_a_run_with_its_steps_and_a_problem_for_an_unknown_one()
    {
        var run = await Seed(NewSource("api-run"), Items.Numbered(3));
        using var api = Stack.Api("reader");

        var view = await api.GetFromJsonAsync<JsonElement>($"runs/{run.Id}");
        using var missing = await api.GetAsync($"runs/{Guid.NewGuid()}");

        Assert.Equal("Completed", view.GetProperty("status").GetString());
        Assert.Equal(3, view.GetProperty("counts").GetProperty("inserted").GetInt32());
        Assert.True(view.GetProperty("steps").GetArrayLength() > 0);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Should_create_one_run_for_concurrent_requests_with_one_idempotency_key()
    {
        var source = NewSource("api-post");
        var key = $"{source}:v1:p1";
        using var api = Stack.Api("operator");

        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ =>
            api.PostAsJsonAsync("runs", new { source, idempotencyKey = key, processType = "ingestion" })));
        var bodies = await Task.WhenAll(responses.Select(r => r.Content.ReadFromJsonAsync<JsonElement>()));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(9, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.Single(bodies.Select(b => b.GetProperty("id").GetGuid()).Distinct());
        Assert.Equal(1, await Db.Count("SELECT count(*) FROM runsaga.runs WHERE idempotency_key = @p0 AND status <> 'Cancelled'", key));
        // The other nine run ids ended as duplicates of it, never to run.
        Assert.Equal(0, await Db.Count(
            "SELECT count(*) FROM runsaga.runs WHERE idempotency_key = @p0 AND status = 'Cancelled' AND error_code <> 'DUPLICATE_RUN'", key));
        var again = await api.PostAsJsonAsync("runs", new { source, idempotencyKey = key });
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.True(await Db.Count("SELECT count(*) FROM runsaga.api_audit WHERE key_name = 'it-operator' AND method = 'POST' AND path = '/runs'") >= 11);
    }

    [Fact]
    public async Task Should_show_sources_items_their_lineage_and_what_a_run_changed()
    {
        var source = NewSource("api-items");
        var first = await Seed(source, Items.Numbered(3));
        var second = await Seed(source, [.. Items.Numbered(2), Items.Numbered("item", 3, revision: 2)]);
        using var api = Stack.Api("reader");

        var sources = await api.GetFromJsonAsync<JsonElement>("sources");
        var mine = sources.EnumerateArray().Single(s => s.GetProperty("source").GetString() == source);
        var item = await api.GetFromJsonAsync<JsonElement>($"projects/{source}/item-00003");
        var lineage = await api.GetFromJsonAsync<JsonElement>($"projects/{source}/item-00003/lineage");
        var created = await api.GetFromJsonAsync<JsonElement>($"runs/{first.Id}/changes?change=created");
        using var unknown = await api.GetAsync($"projects/{source}/no-such-item");

        Assert.Equal((3L, "ok"), (mine.GetProperty("items").GetInt64(), mine.GetProperty("health").GetString()));
        Assert.Equal(second.Id, mine.GetProperty("lastRun").GetProperty("id").GetGuid());
        Assert.Equal(first.Id, item.GetProperty("createdBy").GetProperty("id").GetGuid());
        Assert.Equal(second.Id, item.GetProperty("lastUpdatedBy").GetProperty("id").GetGuid());
        Assert.Equal(["created", "updated"], lineage.EnumerateArray().Select(c => c.GetProperty("change").GetString()));
        Assert.Equal(3, created.GetProperty("items").GetArrayLength());
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    /// <summary>Data nested 64 levels is the most staging accepts; the API must show it (System.Text.Json stops at 64 by default).</summary>
    [Fact]
    public async Task Should_show_an_item_whose_data_nests_as_deep_as_staging_allows()
    {
        var source = NewSource("api-deep");
        await Seed(source, [new Item("deep", "deep", Data: Items.Nested(64))]);
        using var api = Stack.Api("reader");

        using var response = await api.GetAsync($"projects/{source}/deep");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        using var item = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 256 });
        var node = item.RootElement.GetProperty("data");
        for (var level = 1; level < 64; level++)
        {
            node = node.GetProperty("level");
        }

        Assert.True(node.GetProperty("bottom").GetBoolean());
    }

    [Fact]
    public async Task Should_archive_download_restore_and_delete_a_run_by_command_with_every_call_audited()
    {
        var run = await Seed(NewSource("api-archive"), Items.Numbered(4));
        using var operatorApi = Stack.Api("operator");
        using var adminApi = Stack.Api("admin");

        Assert.Equal(HttpStatusCode.Accepted, (await operatorApi.PostAsync($"runs/{run.Id}/archive", null)).StatusCode);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND archived_at IS NOT NULL", run.Id);
        var archived = await operatorApi.GetFromJsonAsync<JsonElement>("runs/archived?limit=500");
        var file = await operatorApi.GetByteArrayAsync($"runs/{run.Id}/archive");

        Assert.Contains(archived.GetProperty("items").EnumerateArray(), r => r.GetProperty("id").GetGuid() == run.Id);
        Assert.Equal([0x1f, 0x8b], file.Take(2));

        Assert.Equal(HttpStatusCode.Accepted, (await operatorApi.PostAsync($"runs/{run.Id}/restore", null)).StatusCode);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND restored_at IS NOT NULL", run.Id);
        Assert.Equal(HttpStatusCode.BadRequest, (await adminApi.DeleteAsync($"runs/{run.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await adminApi.DeleteAsync($"runs/{run.Id}?reason=api%20test")).StatusCode);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.run_audit WHERE run_id = @p0 AND requested_by = 'api:it-admin' AND reason = 'api test'", run.Id);

        Assert.Equal(1, await Db.Count("SELECT count(*) FROM runsaga.api_audit WHERE key_name = 'it-operator' AND path = @p0", $"/runs/{run.Id}/archive"));
        Assert.Equal(1, await Db.Count("SELECT count(*) FROM runsaga.api_audit WHERE key_name = 'it-admin' AND status = 400 AND path = @p0", $"/runs/{run.Id}"));
    }

    [Fact]
    public async Task Should_expose_runsaga_and_masstransit_metrics_for_prometheus()
    {
        await Seed(NewSource("api-metrics"), Items.Numbered(3));
        using var anonymous = Stack.Api(null);

        // The metrics consumer records a run's figures one after another: wait until all are there.
        string[] expected =
        [
            "runsaga_items_promoted_total", "runsaga_runs_finished_total{", "runsaga_flush_wait_seconds_bucket",
            "runsaga_promotion_duration_seconds_bucket", "runsaga_runs{", "messaging_masstransit", "http_server_request_duration_seconds",
        ];
        var missing = expected;
        await Eventually(async () =>
        {
            var text = await anonymous.GetStringAsync("metrics");
            missing = [.. expected.Where(name => !text.Contains(name, StringComparison.Ordinal))];
            return missing.Length == 0;
        }, "RunSaga's, MassTransit's and ASP.NET Core's metrics at /metrics");

        Assert.Empty(missing);
    }

    [Fact]
    public async Task Should_export_every_metric_the_shipped_alert_rules_name()
    {
        // A retention cycle that deletes an item, and an archive folder to measure.
        var source = NewSource("api-alerts");
        for (var i = 0; i < 3; i++)
        {
            await Seed(source, Items.Numbered(3));
        }

        for (var i = 0; i < 3; i++)
        {
            await Seed(source, Items.Numbered(2));
        }

        Directory.CreateDirectory(Stack.ArchiveDirectory);
        var rules = await File.ReadAllTextAsync(Path.Combine(RepositoryLayout.Discover().Root, "deploy", "prometheus", "alerts.yml"));
        var named = System.Text.RegularExpressions.Regex.Matches(rules, "runsaga_[a-z_]+").Select(m => m.Value).Distinct().ToList();
        Assert.True(named.Count >= 6, $"the rules name RunSaga's metrics: {string.Join(", ", named)}");
        using var anonymous = Stack.Api(null);

        var missing = named;
        await Eventually(async () =>
        {
            var text = await anonymous.GetStringAsync("metrics");
            missing = [.. named.Where(name => !System.Text.RegularExpressions.Regex.IsMatch(text, $"(?m)^{name}[{{ ]"))];
            return missing.Count == 0;
        }, $"every metric deploy/prometheus/alerts.yml names at /metrics; missing: {string.Join(", ", missing)}", TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task Should_serve_its_openapi_document()
    {
        using var anonymous = Stack.Api(null);

        var document = await anonymous.GetFromJsonAsync<JsonElement>("openapi/v1.json");

        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("/runs", paths);
        Assert.Contains("/runs/{id}", paths);
        Assert.Contains("/sources", paths);
    }
}
