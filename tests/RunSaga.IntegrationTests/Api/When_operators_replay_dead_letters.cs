using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RunSaga.IntegrationTests.Faults;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Api;

/// <summary>
/// Dead letters put back by an operator, over plain HTTP. The failure is real: while the hosts' PostgreSQL role may not
/// write <c>runsaga.runs</c> (an operator's mistake, or an outage that outlasts the retries), a scraper's
/// <c>ScrapeCompleted</c> fails in the saga and MassTransit moves it to <c>runsaga.runs_error</c>; the run waits, Running.
/// Once the database takes writes again, replaying the message completes the run. Replaying a message whose work was
/// done meanwhile (the scraper sent its completion again) changes nothing: the saga is idempotent. Discarding needs an
/// admin and a reason, and keeps the body.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_operators_replay_dead_letters(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private const string Queue = RunsErrorQueue;

    [Fact]
    public async Task Should_complete_the_run_once_its_failed_completion_is_replayed()
    {
        var (run, _) = await RunWhoseCompletionFailed("replay");
        using var reader = Stack.Api("reader");
        using var operatorKey = Stack.Api("operator");

        using (var denied = await reader.PostAsJsonAsync($"errors/{Queue}/replay", new { runId = run.RunId }))
        {
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        }

        Assert.Equal("Running", (await Db.FindRun(run.RunId))!.Status);
        using var replayed = await operatorKey.PostAsJsonAsync($"errors/{Queue}/replay", new { runId = run.RunId });
        Assert.Equal(HttpStatusCode.OK, replayed.StatusCode);
        var moved = await replayed.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(1, moved.GetProperty("count").GetInt32());
        Assert.Equal("runsaga.runs", moved.GetProperty("target").GetString());
        Assert.Equal("ScrapeCompleted", moved.GetProperty("messages")[0].GetProperty("messageType").GetString());

        var completed = await ExpectCompleted(run.RunId);
        Assert.Equal(30, completed.Inserted);
        Assert.Empty(await DeadLettersOf(reader, run.RunId));
        Assert.Equal(1, await Db.Count(
            "SELECT count(*) FROM runsaga.dead_letter_actions WHERE run_id = @p0 AND action = 'replayed' AND queue = 'runsaga.runs_error' AND target_queue = 'runsaga.runs' AND requested_by LIKE 'api:%'",
            run.RunId));

        // The history shows the replayed completion moving the run on.
        var events = await reader.GetFromJsonAsync<JsonElement>($"runs/{run.RunId}/events");
        Assert.Contains(events.GetProperty("items").EnumerateArray(), e =>
            e.GetProperty("event").GetString() == "ScrapeCompleted" && e.GetProperty("stateBefore").GetString() == "Running"
            && e.GetProperty("stateAfter").GetString() == "Flushing" && e.GetProperty("outcome").GetString() == "changed");

        // Nothing of the run is left to replay.
        using var again = await operatorKey.PostAsJsonAsync($"errors/{Queue}/replay", new { runId = run.RunId });
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
    }

    [Fact]
    public async Task Should_change_nothing_when_the_replayed_message_s_work_was_done_meanwhile()
    {
        var (run, batches) = await RunWhoseCompletionFailed("idempotent");
        await Publisher.Publish([run.Completed(batches)]);
        var completed = await ExpectCompleted(run.RunId);
        var checksum = await Db.ProjectsChecksum(run.Source);

        using var operatorKey = Stack.Api("operator");
        using var replayed = await operatorKey.PostAsJsonAsync($"errors/{Queue}/replay", new { runId = run.RunId });
        Assert.Equal(HttpStatusCode.OK, replayed.StatusCode);
        var messageId = (await replayed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("messages")[0].GetProperty("messageId").GetString();

        // The saga handled it (its history line says so) and changed nothing.
        using var reader = Stack.Api("reader");
        await Eventually(async () => (await reader.GetFromJsonAsync<JsonElement>($"runs/{run.RunId}/events")).GetProperty("items").EnumerateArray()
            .Any(e => e.GetProperty("messageId").ValueKind == JsonValueKind.String && e.GetProperty("messageId").GetString() == messageId
                && e.GetProperty("outcome").GetString() == "late" && e.GetProperty("stateAfter").GetString() == "Completed"),
            "the replayed ScrapeCompleted is in the run's history as late");
        var after = (await Db.FindRun(run.RunId))!;
        Assert.Equal(("Completed", completed.Inserted, completed.Updated), (after.Status, after.Inserted, after.Updated));
        Assert.Equal(checksum, await Db.ProjectsChecksum(run.Source));
        Assert.Empty(await DeadLettersOf(reader, run.RunId));
    }

    [Fact]
    public async Task Should_let_only_an_admin_discard_a_message_with_a_reason_and_keep_its_body()
    {
        using var reader = Stack.Api("reader");
        var runId = Guid.NewGuid();
        await HostileInput.PublishAsync(Publisher, HostileInput.Kind.WrongType, runId);
        await Eventually(async () => (await DeadLettersOf(reader, runId)).Count == 1, $"{Queue} holds the unreadable message");
        var messageId = (await DeadLettersOf(reader, runId))[0].GetProperty("messageId").GetString();

        using var operatorKey = Stack.Api("operator");
        using (var denied = await operatorKey.PostAsJsonAsync($"errors/{Queue}/discard", new { messageId, reason = "unreadable" }))
        {
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        }

        using var admin = Stack.Api("admin");
        using (var noReason = await admin.PostAsJsonAsync($"errors/{Queue}/discard", new { messageId }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
        }

        using (var unknown = await admin.PostAsJsonAsync($"errors/{Queue}/discard", new { messageId = Guid.NewGuid().ToString(), reason = "x" }))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        }

        using var discarded = await admin.PostAsJsonAsync($"errors/{Queue}/discard", new { messageId, reason = "the scraper sent a string for totalItems" });
        Assert.Equal(HttpStatusCode.OK, discarded.StatusCode);
        Assert.Empty(await DeadLettersOf(reader, runId));
        var kept = await Db.Query(
            "SELECT convert_from(body, 'UTF8'), reason, requested_by FROM runsaga.dead_letter_actions WHERE run_id = @p0 AND action = 'discarded'",
            r => (Body: r.GetString(0), Reason: r.GetString(1), By: r.GetString(2)), runId);
        var row = Assert.Single(kept);
        Assert.Contains("\"totalItems\":\"many\"", row.Body, StringComparison.Ordinal);
        Assert.Equal("the scraper sent a string for totalItems", row.Reason);
        Assert.StartsWith("api:", row.By, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_refuse_a_replay_that_names_no_messages_or_a_queue_that_is_not_a_dead_letter_queue()
    {
        using var operatorKey = Stack.Api("operator");
        foreach (var body in new object[] { new { }, new { all = true, runId = Guid.NewGuid() } })
        {
            using var response = await operatorKey.PostAsJsonAsync($"errors/{Queue}/replay", body);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        using (var notDeadLetters = await operatorKey.PostAsJsonAsync("errors/runsaga.runs/replay", new { all = true }))
        {
            Assert.Equal(HttpStatusCode.NotFound, notDeadLetters.StatusCode);
        }

        using var noKey = Stack.Api(null);
        using var anonymous = await noKey.PostAsJsonAsync($"errors/{Queue}/replay", new { all = true });
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }
}
