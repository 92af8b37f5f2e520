using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Api;

/// <summary>
/// <c>GET /runs/{id}/events</c> over plain HTTP, for a run published raw that had a batch delivered twice, its flush
/// verdict held while the Consumers were down, and a batch after it completed: each is in the history, in the order it
/// happened, with the saga's states before and after; the API pages with a cursor and answers 404 and 400 as documented.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_operators_read_a_run_s_history(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_list_the_redelivered_batch_the_held_flush_and_the_late_batch_in_order()
    {
        var run = await RunWithAHistory(NewSource("history"));
        using var api = Stack.Api("reader");
        var page = await api.GetFromJsonAsync<JsonElement>($"runs/{run.RunId}/events?limit=500");
        var events = page.GetProperty("items").EnumerateArray().ToList();
        Output.WriteLine(string.Join(Environment.NewLine, events.Select(e =>
            $"{e.GetProperty("actor")} {e.GetProperty("event")} {e.GetProperty("stateBefore")}->{e.GetProperty("stateAfter")} {e.GetProperty("outcome")}: {e.GetProperty("summary")}")));

        int At(string actor, string @event, string? outcome = null, string? summary = null)
        {
            var index = events.FindIndex(e => e.GetProperty("actor").GetString() == actor && e.GetProperty("event").GetString() == @event
                && (outcome is null || e.GetProperty("outcome").GetString() == outcome)
                && (summary is null || (e.GetProperty("summary").GetString() ?? string.Empty).Contains(summary, StringComparison.Ordinal)));
            Assert.True(index >= 0, $"{actor} {@event} {outcome} {summary} is not in the history");
            return index;
        }

        // RunRequested and RunStarted travel on exchanges of their own: either may be handled first.
        var steps = new[]
        {
            Math.Max(At("saga", "RunRequested", "changed"), At("saga", "RunStarted", "changed")),
            At("staging", "ItemsScraped", "duplicate", "batch b1 came again"),
            At("saga", "ScrapeCompleted", "changed", "30 items in 3 batches announced"),
            At("saga", "RunDeadlinePassed", "changed", "flush verdict held"),
            At("flush", "FlushRun", "changed"),
            At("flush", "FlushVerdict", "changed", "confirmed"),
            At("saga", "FlushConfirmed", "changed"),
            At("promotion", "Promotion", "changed", "30 inserted"),
            At("saga", "ProjectsUpserted", "changed"),
            At("staging", "ItemsScraped", "late", "batch b4 came after the run's flush"),
        };
        Assert.Equal(steps.Order(), steps);

        var completed = events[At("saga", "ProjectsUpserted", "changed")];
        Assert.Equal(("Flushed", "Completed"), (completed.GetProperty("stateBefore").GetString(), completed.GetProperty("stateAfter").GetString()));
        var held = events[At("saga", "RunDeadlinePassed", "changed", "flush verdict held")];
        Assert.Equal(("Flushing", "Flushing"), (held.GetProperty("stateBefore").GetString(), held.GetProperty("stateAfter").GetString()));
        Assert.Contains("runsaga.staging", held.GetProperty("summary").GetString(), StringComparison.Ordinal);
        // A raw scraper's envelope may leave out sentTime; RunSaga's own messages carry it.
        Assert.True(events[At("saga", "FlushConfirmed", "changed")].GetProperty("sentAt").ValueKind == JsonValueKind.String,
            "a message's line carries when it was sent");

        // The batches that staged normally are one summary, not a line each.
        var batches = page.GetProperty("batches");
        Assert.Equal((3, 30), (batches.GetProperty("batches").GetInt32(), batches.GetProperty("items").GetInt32()));
        Assert.Equal(2, events.Count(e => e.GetProperty("event").GetString() == "ItemsScraped"));
    }

    [Fact]
    public async Task Should_page_with_a_cursor_and_answer_404_and_400()
    {
        var run = new ScrapeRun(NewSource("history-pages"));
        await CompleteRun(run, Items.Numbered(5).InBatches(5));
        using var api = Stack.Api("reader");

        var all = (await api.GetFromJsonAsync<JsonElement>($"runs/{run.RunId}/events")).GetProperty("items").EnumerateArray()
            .Select(e => e.GetProperty("id").GetInt64()).ToList();
        Assert.True(all.Count >= 6, $"a completed run's history has at least six lines: {all.Count}");
        var paged = new List<long>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await api.GetFromJsonAsync<JsonElement>($"runs/{run.RunId}/events?limit=2{(cursor is null ? string.Empty : $"&cursor={cursor}")}");
            var items = page.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetInt64()).ToList();
            Assert.InRange(items.Count, 1, 2);
            paged.AddRange(items);
            cursor = page.GetProperty("nextCursor").GetString();
            pages++;
        }
        while (cursor is not null && pages < 100);
        Assert.Equal(all, paged);

        using (var unknown = await api.GetAsync($"runs/{Guid.NewGuid()}/events"))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        }

        foreach (var query in new[] { "limit=0", "limit=501", "cursor=abc", "cursor=-1" })
        {
            using var bad = await api.GetAsync($"runs/{run.RunId}/events?{query}");
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }

        using var noKey = Stack.Api(null);
        using var anonymous = await noKey.GetAsync($"runs/{run.RunId}/events");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }
}
