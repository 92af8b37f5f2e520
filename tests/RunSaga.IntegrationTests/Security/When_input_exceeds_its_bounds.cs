using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Security;

/// <summary>
/// Every bound of docs/security.md ("Bounded input"), tried the way an outsider reaches RunSaga: raw AMQP as the scraper
/// user, plain HTTP with a key, SQL on the tables.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed partial class When_input_exceeds_its_bounds(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    /// <summary>The Consumers' memory budget (docs/architecture.md).</summary>
    private const long RssBudget = 400L * 1024 * 1024;

    [Fact]
    public async Task Should_refuse_huge_batches_without_the_consumers_memory_growing_past_its_budget()
    {
        // A fresh process, so that its peak resident size (VmHWM) is this test's alone.
        await Stack.RestartConsumers();
        var pid = Stack.ConsumersProcessId;
        var errorsBefore = await Publisher.ReadyCount("runsaga.staging_error") ?? 0;

        // 120 MB: RabbitMQ itself refuses it at publish (max_message_size, 16 MiB as shipped): it never reaches the Consumers.
        var huge = new ScrapeRun(NewSource("huge"));
        await Publisher.Publish([huge.Requested(), huge.Started()]);
        var verdict = await new HostileBroker(Stack.Amqp).Publish(
            "RunSaga.Contracts:ItemsScraped", "ItemsScraped", Batch(huge.RunId, "b120", 120 * 1024 * 1024), declare: true);
        Assert.True(verdict.ReplyCode == BrokerVerdict.PreconditionFailed && verdict.ReplyText.Contains("max size", StringComparison.Ordinal),
            $"a 120 MB message: the broker should refuse it as larger than max_message_size, but: {verdict}");

        // Eight of 12 MB, under the broker's limit but over MAX_BATCH_BYTES (8 MiB): refused before they are parsed.
        var runs = Enumerable.Range(0, 8).Select(_ => new ScrapeRun(NewSource("oversized"))).ToList();
        foreach (var run in runs)
        {
            await Publisher.Publish([run.Requested(), run.Started()]);
            await Publisher.PublishRaw("ItemsScraped", JsonSerializer.SerializeToUtf8Bytes(new
            {
                messageType = new[] { ScraperPublisher.MessageUrn("ItemsScraped") },
                message = Batch(run.RunId, "b12", 12 * 1024 * 1024),
            }), ScraperPublisher.EnvelopeContentType);
        }

        foreach (var run in runs)
        {
            var row = await ExpectFailed(run.RunId, "BATCH_TOO_LARGE");
            Assert.Contains("was not read", row.ErrorMessage, StringComparison.Ordinal);
        }

        var peak = PeakResidentBytes(pid);
        Output.WriteLine($"Consumers peak resident size: {peak / (1024 * 1024)} MiB");
        Assert.True(peak < RssBudget, $"the Consumers' peak resident size is {peak / (1024 * 1024)} MiB; the budget is {RssBudget / (1024 * 1024)} MiB");
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = ANY(@p0)", runs.Select(r => r.RunId).ToArray()));
        Assert.Equal(errorsBefore, await Publisher.ReadyCount("runsaga.staging_error") ?? 0);
    }

    [Fact]
    public async Task Should_keep_metrics_the_same_size_whatever_error_codes_scrapers_send()
    {
        using var http = Stack.Api(role: null);
        var random = new Random(20261130);
        string RandomCode() => new(Enumerable.Range(0, random.Next(65, 400)).Select(_ => (char)random.Next('!', '~')).ToArray());

        // One first, so the series it adds exists before the measurement.
        var first = Guid.NewGuid();
        var firstCode = RandomCode();
        await Publisher.Publish(new OutgoingMessage("ScrapeFailed", new { runId = first, errorCode = firstCode, errorMessage = "m" }, first));
        var row = await ExpectFailed(first, "SCRAPER_ERROR");
        Assert.Contains(firstCode[..50], row.ErrorDetail, StringComparison.Ordinal);
        await Eventually(async () => (await http.GetStringAsync("metrics")).Contains("error_code=\"SCRAPER_ERROR\"", StringComparison.Ordinal),
            "the SCRAPER_ERROR series on /metrics");
        var before = await http.GetStringAsync("metrics");

        var ids = Enumerable.Range(0, 2000).Select(_ => Guid.NewGuid()).ToArray();
        // Half long codes of any characters (recorded as SCRAPER_ERROR), half well-formed codes nobody uses twice (recorded
        // as sent, but a metric label only as SCRAPER_ERROR).
        string WellFormedCode() => "E" + new string(Enumerable.Range(0, 20).Select(_ => (char)random.Next('A', 'Z' + 1)).ToArray());
        var index = 0;
        foreach (var id in ids)
        {
            var code = index++ % 2 == 0 ? RandomCode() : WellFormedCode();
            await Publisher.Publish(new OutgoingMessage("ScrapeFailed", new { runId = id, errorCode = code, errorMessage = RandomCode() }, id));
        }

        await Eventually(async () => await Db.Count(
            "SELECT count(*) FROM runsaga.runs WHERE id = ANY(@p0) AND status = 'Failed'", ids) == ids.Length,
            "2,000 runs failed", TimeSpan.FromMinutes(3), TimeSpan.FromSeconds(1));
        Assert.Equal(ids.Length / 2, await Db.Count(
            "SELECT count(*) FROM runsaga.runs WHERE id = ANY(@p0) AND error_code = 'SCRAPER_ERROR'", ids));
        var counted = "";
        await Eventually(async () =>
        {
            counted = await http.GetStringAsync("metrics");
            return Value(counted, "runsaga_runs_finished_total", "SCRAPER_ERROR") >= Value(before, "runsaga_runs_finished_total", "SCRAPER_ERROR") + ids.Length;
        }, "the 2,000 failures counted on /metrics");

        // No error code became a label; RunSaga's series and the page as a whole (ASP.NET Core and MassTransit add a series
        // for a route or status code the first time one is seen; the runs gauge has one per status present) grow by a few
        // series at most, not by 2,000 (about 200 KB).
        Assert.Equal(ErrorCodeLabels(before), ErrorCodeLabels(counted));
        Assert.True(Series(counted).Count(IsRunSagas) - Series(before).Count(IsRunSagas) <= 5,
            $"RunSaga's series went from {Series(before).Count(IsRunSagas)} to {Series(counted).Count(IsRunSagas)}");
        Output.WriteLine($"/metrics: {before.Length} bytes and {Series(before).Count} series before, {counted.Length} bytes and {Series(counted).Count} after");
        Assert.True(Series(counted).Count - Series(before).Count <= 20,
            $"/metrics went from {Series(before).Count} to {Series(counted).Count} series after 2,000 failures with random codes");
        Assert.True(counted.Length - before.Length < before.Length / 10,
            $"/metrics grew from {before.Length} to {counted.Length} bytes after 2,000 failures with random codes");
    }

    private static bool IsRunSagas(string series) => series.StartsWith("runsaga_", StringComparison.Ordinal);

    private static List<string> ErrorCodeLabels(string page) =>
        [.. ErrorCodeLabel().Matches(page).Select(m => m.Groups[1].Value).Distinct().Order(StringComparer.Ordinal)];

    [Fact]
    public async Task Should_answer_400_with_a_problem_for_requests_beyond_their_bounds()
    {
        using var http = Stack.Api("operator");
        var source = NewSource("api-bounds");
        var started = DateTime.UtcNow;
        foreach (var (what, body, field) in new (string, object, string)[]
        {
            ("a 300-character source", new { source = new string('s', 300) }, "source"),
            ("a 600-character idempotency key", new { source, idempotencyKey = new string('k', 600) }, "idempotencyKey"),
            ("a 40-character process type", new { source, processType = new string('p', 40) }, "processType"),
            ("17 KB of metadata", new { source, metadata = new Dictionary<string, string> { ["blob"] = new string('m', 17 * 1024) } }, "metadata"),
            ("the empty run id", new { source, runId = Guid.Empty }, "runId"),
        })
        {
            using var response = await http.PostAsJsonAsync("runs", body);
            var problem = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"POST /runs with {what}: {(int)response.StatusCode} {problem}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains(field, problem, StringComparison.Ordinal);
        }

        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), "the refusals should be immediate, not a wait for the saga");

        // A body that is not even the right shape: 400 with a problem body, never 500.
        using (var wrongType = await http.PostAsync("runs", new StringContent("""{"source": 42}""", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, wrongType.StatusCode);
            Assert.Equal("application/problem+json", wrongType.Content.Headers.ContentType?.MediaType);
        }

        // requestedBy is the key's name, whatever the body says.
        using var accepted = await http.PostAsJsonAsync("runs", new { source, requestedBy = "somebody-else" });
        Assert.Equal(HttpStatusCode.Created, accepted.StatusCode);
        var runId = (await accepted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND requested_by = 'it-operator'", runId);
    }

    [Fact]
    public async Task Should_answer_400_never_500_for_bad_cursors_and_query_values()
    {
        using var http = Stack.Api("reader");
        var negativeTicks = Convert.ToBase64String(Encoding.UTF8.GetBytes($"-5:{Guid.NewGuid():N}")).TrimEnd('=');
        var hugeTicks = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{long.MaxValue}:{Guid.NewGuid():N}")).TrimEnd('=');
        var run = Guid.NewGuid();
        foreach (var path in new[]
        {
            $"runs?cursor={negativeTicks}", $"runs?cursor={hugeTicks}", "runs?cursor=%%%", "runs?cursor=-1", "runs?limit=0", "runs?limit=abc",
            "runs?limit=99999999999", "runs?from=yesterday", "runs?status=Nope", "runs?include=everything", "audit/runs?cursor=-1",
            "audit/runs?limit=-5", "retention/cycles?cursor=-7", $"runs/{run}/changes?cursor=-3", $"runs/{run}/changes?change=moved",
            $"runs/{run}/items?limit=100000", "runs/archived?cursor=zzz",
        })
        {
            using var response = await http.GetAsync(path);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"GET /{path}: {(int)response.StatusCode} {body}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task Should_rate_limit_per_key_and_per_address_with_retry_after()
    {
        await Stack.RestartOrchestrator(new Dictionary<string, string> { ["API_RATE_LIMIT_PER_KEY"] = "5", ["API_RATE_LIMIT_PER_ADDRESS"] = "8" });
        try
        {
            using var reader = Stack.Api("reader");
            var statuses = new List<HttpStatusCode>();
            for (var i = 0; i < 6; i++)
            {
                using var response = await reader.GetAsync("runs?limit=1");
                statuses.Add(response.StatusCode);
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, "a 429 should say when to retry (Retry-After)");
                    Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                }
            }

            Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.OK, 5), HttpStatusCode.TooManyRequests], statuses);

            // Another key from the same address has a budget of its own, until the address's runs out (8 in all, of which the
            // reader took 5 and the fixture's readiness probe after the restart one or more): the admin key is refused
            // before its own 5 are used up.
            using var admin = Stack.Api("admin");
            var adminStatuses = new List<HttpStatusCode>();
            for (var i = 0; i < 5; i++)
            {
                using var response = await admin.GetAsync("runs?limit=1");
                adminStatuses.Add(response.StatusCode);
            }

            Assert.True(adminStatuses[0] == HttpStatusCode.OK && adminStatuses[^1] == HttpStatusCode.TooManyRequests
                && adminStatuses.Count(s => s == HttpStatusCode.OK) < 5, $"the admin key's answers: {string.Join(", ", adminStatuses)}");
            using var anonymous = Stack.Api(role: null);
            using var limited = await anonymous.GetAsync("health/live");
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        }
        finally
        {
            await Stack.RestartOrchestrator();
        }
    }

    [Fact]
    public async Task Should_answer_health_from_a_cache_not_a_query_per_call()
    {
        using var http = Stack.Api(role: null);
        await http.GetAsync("health/ready");
        await Task.Delay(TimeSpan.FromSeconds(6));
        var before = await MigrationTableReads();
        var calls = Enumerable.Range(0, 200).Select(async _ =>
        {
            using var response = await http.GetAsync("health/ready");
            return response.StatusCode;
        });
        Assert.All(await Task.WhenAll(calls), status => Assert.Equal(HttpStatusCode.OK, status));
        await Task.Delay(TimeSpan.FromSeconds(2));

        // 200 calls within a few seconds: at most one check per 5 s window (two windows, and slack for a third).
        var reads = await MigrationTableReads() - before;
        Assert.True(reads <= 3, $"200 calls of /health/ready read the migrations table {reads} times");
    }

    [Fact]
    public async Task Should_commit_the_audit_row_before_the_call_acts()
    {
        using var http = Stack.Api("operator");
        var source = NewSource("audit-first");
        await Db.Execute("""
            CREATE FUNCTION runsaga.it_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit refused by the test'; END $$;
            CREATE TRIGGER it_refuse_audit BEFORE INSERT ON runsaga.api_audit FOR EACH ROW EXECUTE FUNCTION runsaga.it_refuse_audit();
            """);
        try
        {
            using var response = await http.PostAsJsonAsync("runs", new { source });
            Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        }
        finally
        {
            await Db.Execute("DROP TRIGGER it_refuse_audit ON runsaga.api_audit; DROP FUNCTION runsaga.it_refuse_audit();");
        }

        // The call could not be audited, so it did nothing: no run was requested.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.runs WHERE source = @p0", source));

        const string audits = "SELECT count(*) FROM runsaga.api_audit WHERE key_name = 'it-operator' AND method = 'POST' AND path = '/runs' AND status = 201";
        var before = await Db.Count(audits);
        using var audited = await http.PostAsJsonAsync("runs", new { source });
        Assert.Equal(HttpStatusCode.Created, audited.StatusCode);
        Assert.Equal(before + 1, await Db.Count(audits));
    }

    private static object Batch(Guid runId, string batchId, int bytes)
    {
        // Items of 64 KiB titles, as many as make up the size.
        var title = new string('x', 64 * 1024);
        var count = bytes / title.Length;
        return new { runId, batchId, items = Enumerable.Range(0, count).Select(i => new { key = $"k{i}", title }).ToArray() };
    }

    private static long PeakResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(DigitsPattern().Match(line).Value, System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }

    private async Task<long> MigrationTableReads() => (await Db.Query(
        "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE schemaname = 'runsaga' AND relname = '__ef_migrations_history'",
        r => r.GetInt64(0))).Single();

    /// <summary>The metric series (name and labels) of a Prometheus text page, without their values.</summary>
    private static List<string> Series(string page) =>
        [.. page.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => l[..l.LastIndexOf(' ')]).Order(StringComparer.Ordinal)];

    private static double Value(string page, string metric, string errorCode) => page.Split('\n')
        .Where(l => l.StartsWith(metric + "{", StringComparison.Ordinal) && l.Contains($"error_code=\"{errorCode}\"", StringComparison.Ordinal))
        .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)).Sum();

    [GeneratedRegex("[0-9]+")]
    private static partial Regex DigitsPattern();

    [GeneratedRegex("error_code=\"([^\"]*)\"")]
    private static partial Regex ErrorCodeLabel();
}
