using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Delivery;

/// <summary>
/// Idempotency as a scraper following docs/wire-format.md meets it: a run id whose key another run holds never promotes,
/// whatever order its messages arrive in; a key whose runs failed makes a new attempt; a key is one source's.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_held_key_is_reused(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_never_promote_a_duplicate_run_id_in_any_order_of_arrival()
    {
        var source = NewSource("dupkey");
        var key = $"{source}:input-1:pipeline-1";
        var holder = new ScrapeRun(source);
        var items = Items.Numbered(10);
        await Publisher.Publish(holder.Requested(key));
        await CompleteRun(holder, items.InBatches(5, "h"));
        var checksum = await Db.ProjectsChecksum();

        // The same scrape again under new run ids, each with the held key, its messages in another order. RunStarted
        // carries the key where the checklist says so; the first order is a scraper that leaves it off.
        var harmful = Items.Numbered(10, revision: 2).InBatches(5);
        var orders = new List<(ScrapeRun Run, OutgoingMessage[] Messages)>();
        ScrapeRun Dup() => new(source);
        var r1 = Dup(); orders.Add((r1, [r1.Requested(key), r1.Started(), .. harmful.Select(r1.Scraped), r1.Completed(harmful)]));
        var r2 = Dup(); orders.Add((r2, [r2.Started(key), .. harmful.Select(r2.Scraped), r2.Completed(harmful), r2.Requested(key)]));
        var r3 = Dup(); orders.Add((r3, [r3.Completed(harmful), .. harmful.Select(r3.Scraped), r3.Started(key), r3.Requested(key)]));
        var r4 = Dup(); orders.Add((r4, [.. harmful.Select(r4.Scraped), r4.Requested(key), r4.Completed(harmful), r4.Started()]));
        var r5 = Dup(); orders.Add((r5, [r5.Started(key), .. harmful.Select(r5.Scraped), r5.Completed(harmful)]));
        await using var accepted = await Publisher.Watch("RunAccepted");
        foreach (var (_, messages) in orders)
        {
            await Publisher.Publish(messages);
        }

        foreach (var (run, _) in orders)
        {
            var row = await Db.WaitForRun(run.RunId, r => r.Status == "Cancelled", "Cancelled as a duplicate");
            Assert.Equal("DUPLICATE_RUN", row.ErrorCode);
        }

        var answers = await accepted.WaitFor(m => orders.Any(o => MessageWatcher.GuidOf(m, "runId") == o.Run.RunId), orders.Count, RunSagaDbTimeout,
            "a RunAccepted naming the holder for every duplicate");
        Assert.All(answers, m => Assert.Equal(holder.RunId, MessageWatcher.GuidOf(m, "duplicateOf")));

        // Give every late message time to arrive: still nothing promoted, projects byte for byte as before.
        await Task.Delay(TimeSpan.FromSeconds(3));
        foreach (var (run, _) in orders)
        {
            Assert.Equal("Cancelled", (await Db.FindRun(run.RunId))!.Status);
            await AssertProjectsUntouchedBy(run.RunId, checksum);
        }

        Assert.Equal(1, await Db.Count("SELECT count(*) FROM runsaga.runs WHERE idempotency_key = @p0 AND status NOT IN ('Failed', 'Cancelled')", key));
    }

    [Fact]
    public async Task Should_make_a_new_attempt_for_a_failed_key_once_even_when_retries_race()
    {
        var source = NewSource("retry");
        var key = $"{source}:input-1:pipeline-1";
        var failed = new ScrapeRun(source);
        await Publisher.Publish([failed.Requested(key), failed.Started(), failed.Failed("BLOCKED", "the site blocked us")]);
        await ExpectFailed(failed.RunId, "BLOCKED");

        var (a, b) = (new ScrapeRun(source), new ScrapeRun(source));
        await using var accepted = await Publisher.Watch("RunAccepted");
        await Publisher.Publish([a.Requested(key), b.Requested(key)]);
        var answers = await accepted.WaitFor(m => MessageWatcher.GuidOf(m, "runId") is { } id && (id == a.RunId || id == b.RunId), 2,
            RunSagaDbTimeout, "RunAccepted for both retries");

        var retry = Assert.Single(answers, m => MessageWatcher.GuidOf(m, "duplicateOf") is null);
        var retryId = MessageWatcher.GuidOf(retry, "runId")!.Value;
        Assert.Equal((failed.RunId, 2), (MessageWatcher.GuidOf(retry, "retryOf"), retry.GetProperty("attempt").GetInt32()));
        Assert.Equal(retryId, MessageWatcher.GuidOf(answers.Single(m => m.GetProperty("runId").GetGuid() != retryId), "duplicateOf"));

        // The API shows the attempt, and a POST /runs with the key answers the new attempt.
        using var api = Stack.Api("operator");
        var view = await api.GetFromJsonAsync<JsonElement>($"runs/{retryId}");
        Assert.Equal(2, view.GetProperty("attempt").GetProperty("number").GetInt32());
        Assert.Equal(failed.RunId, view.GetProperty("attempt").GetProperty("retryOf").GetGuid());
        using var again = await api.PostAsJsonAsync("runs", new { source, idempotencyKey = key });
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(retryId, (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid());

        // The same key under another source is a conflict, over HTTP and on the wire.
        using var conflict = await api.PostAsJsonAsync("runs", new { source = source + "-other", idempotencyKey = key });
        Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        var other = new ScrapeRun(source + "-other");
        await Publisher.Publish(other.Requested(key));
        await ExpectFailed(other.RunId, "IDEMPOTENCY_KEY_CONFLICT");
    }

    [Fact]
    public async Task Should_record_the_key_of_a_request_that_reaches_its_run_after_the_run_ended()
    {
        // Published back to back, as a scraper that fails at once would: the request may be applied last.
        var source = NewSource("latekey");
        var runs = Enumerable.Range(0, 6).Select(_ => new ScrapeRun(source)).ToList();
        foreach (var run in runs)
        {
            await Publisher.Publish([run.Requested($"{source}:{run.RunId}"), run.Started(), run.Failed("BLOCKED", "blocked")]);
        }

        foreach (var run in runs)
        {
            await ExpectFailed(run.RunId, "BLOCKED");
            await Eventually(async () => await Db.Count(
                "SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND idempotency_key = @p1 AND requested_at IS NOT NULL", run.RunId, $"{source}:{run.RunId}") == 1,
                $"run {run.RunId} records its key and request");
        }
    }

    private static readonly TimeSpan RunSagaDbTimeout = TimeSpan.FromSeconds(60);
}
