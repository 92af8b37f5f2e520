using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Api;

/// <summary>
/// What the API says of runs that did not simply complete, read over plain HTTP with a reader's key: how far a failed
/// run got, steps in camelCase, what an item's 404 means, and which runs the default list leaves out.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_operators_read_what_runs_left_behind(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_show_how_far_a_failed_run_got_and_its_steps_in_camel_case()
    {
        var source = NewSource("api-failed");
        var run = new ScrapeRun(source);
        var batches = Items.Numbered(30).InBatches(10);
        await Publisher.Publish([run.Requested(), run.Started(), .. batches.Take(2).Select(run.Scraped)]);
        await Eventually(async () => await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", run.RunId) == 2,
            "two batches staged");
        await Publisher.Publish(run.Failed("BLOCKED", "the site blocked us"));
        await ExpectFailed(run.RunId, "BLOCKED");

        using var api = Stack.Api("reader");
        var view = await api.GetFromJsonAsync<JsonElement>($"runs/{run.RunId}");
        var counts = view.GetProperty("counts");
        Assert.Equal((20, 2, true), (counts.GetProperty("stagedItems").GetInt32(), counts.GetProperty("stagedBatches").GetInt32(),
            counts.GetProperty("fromStaging").GetBoolean()));

        var completed = await Seed(source, Items.Numbered(3));
        var steps = (await api.GetFromJsonAsync<JsonElement>($"runs/{completed.Id}")).GetProperty("steps");
        Assert.All(steps.EnumerateArray(), step =>
        {
            Assert.True(step.TryGetProperty("startedAt", out _), step.ToString());
            Assert.DoesNotContain(step.EnumerateObject(), p => p.Name.Contains('_', StringComparison.Ordinal));
        });
    }

    [Fact]
    public async Task Should_say_whether_a_missing_item_was_never_promoted_or_deleted_by_retention()
    {
        var source = NewSource("api-404");
        var all = Items.Numbered(4);
        for (var i = 0; i < 3; i++)
        {
            await Seed(source, all);
        }

        for (var i = 0; i < 3; i++)
        {
            await Seed(source, all.Take(3).ToList());
        }

        await Eventually(async () => await Db.Count(
            "SELECT count(*) FROM runsaga.project_lineage WHERE source = @p0 AND key = 'item-00004' AND change = 'deleted'", source) == 1,
            "retention deleted item-00004");

        using var api = Stack.Api("reader");
        using var deleted = await api.GetAsync($"projects/{source}/item-00004");
        Assert.Equal(HttpStatusCode.NotFound, deleted.StatusCode);
        Assert.Contains("deleted by retention", await deleted.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var never = await api.GetAsync($"projects/{source}/item-99999");
        Assert.Equal(HttpStatusCode.NotFound, never.StatusCode);
        Assert.Contains("never promoted", await never.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_list_archived_and_deleted_runs_only_when_asked()
    {
        var source = NewSource("api-include");
        var archived = await Seed(source, Items.Numbered(2));
        var deleted = await Seed(source, Items.Numbered(2));
        var plain = await Seed(source, Items.Numbered(2));
        await Send("ArchiveRun", new { runId = archived.Id, requestedBy = "it" });
        await Send("DeleteRun", new { runId = deleted.Id, reason = "test", requestedBy = "it" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND archived_at IS NOT NULL", archived.Id);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND deleted_at IS NOT NULL", deleted.Id);

        using var api = Stack.Api("reader");
        async Task<Guid[]> Ids(string query) =>
            [.. (await api.GetFromJsonAsync<JsonElement>($"runs?source={source}{query}")).GetProperty("items").EnumerateArray().Select(r => r.GetProperty("id").GetGuid())];

        Assert.Equal([plain.Id], await Ids(string.Empty));
        Assert.Equal(new[] { plain.Id, archived.Id }.Order(), (await Ids("&include=archived")).Order());
        Assert.Equal(new[] { plain.Id, deleted.Id }.Order(), (await Ids("&include=deleted")).Order());
        Assert.Equal(new[] { plain.Id, archived.Id, deleted.Id }.Order(), (await Ids("&include=archived,deleted")).Order());
        using var bad = await api.GetAsync($"runs?include=everything");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        // Who deleted it and why, and the run's last row, page by page.
        var audit = await api.GetFromJsonAsync<JsonElement>($"audit/runs?source={source}&limit=1");
        var row = Assert.Single(audit.GetProperty("items").EnumerateArray());
        Assert.Equal((deleted.Id, "deleted", "test", "it"), (row.GetProperty("runId").GetGuid(), row.GetProperty("action").GetString(),
            row.GetProperty("reason").GetString(), row.GetProperty("requestedBy").GetString()));
        Assert.Equal("Completed", row.GetProperty("runRow").GetProperty("status").GetString());
        Assert.True(row.GetProperty("runRow").TryGetProperty("processType", out _), "the run's row speaks camelCase");

        // Every cycle of the source, newest first, with its outcome.
        var cycles = await api.GetFromJsonAsync<JsonElement>($"retention/cycles?source={source}&limit=2");
        Assert.Equal(2, cycles.GetProperty("items").GetArrayLength());
        var next = cycles.GetProperty("nextCursor").GetString();
        Assert.NotNull(next);
        var older = await api.GetFromJsonAsync<JsonElement>($"retention/cycles?source={source}&limit=2&cursor={next}");
        Assert.True(older.GetProperty("items")[0].GetProperty("id").GetInt64() < cycles.GetProperty("items")[1].GetProperty("id").GetInt64());
        Assert.All(cycles.GetProperty("items").EnumerateArray(), c => Assert.False(string.IsNullOrEmpty(c.GetProperty("outcome").GetString())));
    }

    [Fact]
    public async Task Should_show_a_restored_runs_items_page_by_page()
    {
        var source = NewSource("api-restored");
        var run = await Seed(source, Items.Numbered(5));
        await Send("ArchiveRun", new { runId = run.Id, requestedBy = "it" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND archived_at IS NOT NULL", run.Id);
        await Send("RestoreRun", new { runId = run.Id, requestedBy = "it" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND restored_at IS NOT NULL", run.Id);

        using var api = Stack.Api("reader");
        var first = await api.GetFromJsonAsync<JsonElement>($"runs/{run.Id}/items?limit=3");
        var second = await api.GetFromJsonAsync<JsonElement>($"runs/{run.Id}/items?limit=3&cursor={first.GetProperty("nextCursor").GetString()}");
        var keys = first.GetProperty("items").EnumerateArray().Concat(second.GetProperty("items").EnumerateArray())
            .Select(i => i.GetProperty("key").GetString()).ToList();
        Assert.Equal(Items.Numbered(5).Select(i => i.Key), keys);
        Assert.Equal(JsonValueKind.Null, second.GetProperty("nextCursor").ValueKind);
    }
}
