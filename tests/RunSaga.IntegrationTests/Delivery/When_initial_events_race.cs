using System.Text.Json;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Delivery;

/// <summary>
/// The saga repository under concurrency: 40 identical RunStarted for one new run and 10 RunRequested with one
/// idempotency key and 10 different run ids, all on the broker at once (the saga endpoint takes 16 at a time).
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_initial_events_race(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private const string RunsQueue = "runsaga.runs";

    [Fact]
    public async Task Should_create_one_run_per_id_and_per_key_without_faults()
    {
        var source = NewSource("race");
        var key = $"{source}:race";
        var started = new ScrapeRun(source);
        var requested = Enumerable.Range(0, 10).Select(_ => new ScrapeRun(source)).ToList();
        var requestedIds = requested.Select(r => r.RunId).ToHashSet();
        await using var accepted = await Publisher.Watch("RunAccepted");

        await Publisher.PublishConcurrently([
            .. Enumerable.Range(0, 40).Select(_ => started.Started()),
            .. requested.Select(r => r.Requested(key)),
        ]);

        var answers = await accepted.WaitFor(m => requestedIds.Contains(RunIdOf(m)), 10, TimeSpan.FromSeconds(60),
            "RunAccepted, one per request");
        await Db.WaitForRun(started.RunId, r => r.Status == "Running", "Running");
        await WaitUntilSettled(RunsQueue);

        Assert.Equal(1, await Db.Count("SELECT count(*) FROM runsaga.runs WHERE id = @p0", started.RunId));
        var holders = await Db.Query(
            "SELECT id FROM runsaga.runs WHERE idempotency_key = @p0 AND status <> 'Cancelled'", r => r.GetGuid(0), key);
        var winner = Assert.Single(holders);
        Assert.Contains(winner, requestedIds);
        // Every other run id is a duplicate of the winner: ended, never to be run.
        Assert.Equal(9, await Db.Count(
            "SELECT count(*) FROM runsaga.runs WHERE id = ANY(@p0) AND status = 'Cancelled' AND error_code = 'DUPLICATE_RUN' AND duplicate_of = @p1",
            requestedIds.ToArray(), winner));

        // Exactly one answer per request: the winner's without duplicateOf, the others naming the winner.
        Assert.Equal(10, accepted.Received.Count(m => requestedIds.Contains(RunIdOf(m))));
        Assert.Equal(requestedIds.Order(), answers.Select(RunIdOf).Order());
        Assert.Null(MessageWatcher.GuidOf(answers.Single(m => RunIdOf(m) == winner), "duplicateOf"));
        Assert.All(answers.Where(m => RunIdOf(m) != winner), m => Assert.Equal(winner, MessageWatcher.GuidOf(m, "duplicateOf")));

        var faulted = (await Stack.Management.PeekMessages(Stack.VirtualHost, RunsQueue + "_error", 1000))
            .Where(m => m.Payload.Contains(started.RunId.ToString(), StringComparison.OrdinalIgnoreCase)
                || m.Payload.Contains(key, StringComparison.Ordinal))
            .ToList();
        Assert.True(faulted.Count == 0, $"{faulted.Count} messages of this race faulted into {RunsQueue}_error: {string.Join(Environment.NewLine, faulted)}");
    }

    /// <summary>
    /// Waits until the queue holds no message, ready or unacknowledged (one being retried in memory stays
    /// unacknowledged). The management API refreshes these figures every 5 s, so only a reading taken more than
    /// one refresh after the publish counts.
    /// </summary>
    private async Task WaitUntilSettled(string queue)
    {
        var publishedBy = DateTime.UtcNow;
        await Eventually(async () =>
        {
            if (DateTime.UtcNow < publishedBy + TimeSpan.FromSeconds(5.5))
            {
                return false;
            }

            var figures = await Stack.Management.Queue(Stack.VirtualHost, queue);
            return figures is { } f
                && f.TryGetProperty("messages", out var messages) && messages.GetInt64() == 0
                && f.TryGetProperty("messages_unacknowledged", out var unacked) && unacked.GetInt64() == 0;
        }, $"{queue} is empty with nothing unacknowledged");
    }

    private static Guid RunIdOf(JsonElement message) => MessageWatcher.GuidOf(message, "runId") ?? Guid.Empty;
}
