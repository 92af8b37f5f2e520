using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Api;

/// <summary>POST /runs/{id}/cancel over plain HTTP with an operator's key, as an operator's script would.</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_an_operator_cancels_a_run(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_end_a_running_run_cancelled_leave_projects_alone_and_refuse_its_later_batches()
    {
        var source = NewSource("cancel");
        var (checksum, harmful) = await SeedBeforeAFailure(source);
        var run = new ScrapeRun(source);
        var batches = harmful.InBatches(10);
        await Publisher.Publish([run.Requested(), run.Started(), run.Scraped(batches[0])]);
        await Db.WaitForRun(run.RunId, r => r.Status == "Running", "Running");
        await Eventually(async () => await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", run.RunId) == 1,
            "the first batch staged");
        await using var failures = await Publisher.Watch("RunFailed");

        using var api = Stack.Api("operator");
        using var response = await api.PostAsJsonAsync($"runs/{run.RunId}/cancel", new { reason = "wrong input file" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var view = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Cancelled", view.GetProperty("status").GetString());
        Assert.Equal("CANCELLED", view.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("wrong input file", view.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(view.GetProperty("cancelledBy").GetString()));
        var notice = await failures.WaitFor(m => MessageWatcher.GuidOf(m, "runId") == run.RunId, 1, TimeSpan.FromSeconds(30), "RunFailed for the cancelled run");
        Assert.Equal("CANCELLED", Assert.Single(notice).GetProperty("errorCode").GetString());

        // The scraper goes on: its later batches are refused, its completion flushes nothing.
        await Publisher.Publish([.. batches.Skip(1).Select(run.Scraped), run.Completed(batches)]);
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(1, await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", run.RunId));
        Assert.Equal("Cancelled", (await Db.FindRun(run.RunId))!.Status);
        await AssertProjectsUntouchedBy(run.RunId, checksum);
    }

    [Fact]
    public async Task Should_refuse_to_cancel_a_completed_run_and_say_so()
    {
        var source = NewSource("cancel-done");
        var completed = await Seed(source, Items.Numbered(5));
        using var api = Stack.Api("operator");

        using var refused = await api.PostAsJsonAsync($"runs/{completed.Id}/cancel", new { reason = "too late" });
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains("Completed", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal("Completed", (await Db.FindRun(completed.Id))!.Status);

        using var unknown = await api.PostAsJsonAsync($"runs/{Guid.NewGuid()}/cancel", new { reason = "none" });
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        using var reader = Stack.Api("reader");
        using var forbidden = await reader.PostAsJsonAsync($"runs/{completed.Id}/cancel", new { reason = "x" });
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
    }
}
