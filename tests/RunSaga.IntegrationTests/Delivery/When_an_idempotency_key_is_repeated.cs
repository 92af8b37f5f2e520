using System.Text.Json;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Delivery;

/// <summary>Two RunRequested with different run ids and the same idempotency key; a third after the run completed.</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_an_idempotency_key_is_repeated(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Should_keep_one_run_and_name_it_in_RunAccepted()
    {
        var source = NewSource("idempotency");
        var key = $"{source}:input-1:pipeline-1";
        var first = new ScrapeRun(source);
        var second = new ScrapeRun(source);
        await using var accepted = await Publisher.Watch("RunAccepted");

        await Publisher.Publish([first.Requested(key), second.Requested(key)]);

        var answers = await accepted.WaitFor(m => RunIdOf(m) == first.RunId || RunIdOf(m) == second.RunId, 2, Timeout,
            "RunAccepted for the two requests");
        var holders = await Db.Query(
            "SELECT id FROM runsaga.runs WHERE idempotency_key = @p0 AND status <> 'Cancelled'", r => r.GetGuid(0), key);
        var winner = Assert.Single(holders);
        Assert.Contains(winner, new[] { first.RunId, second.RunId });
        var loser = winner == first.RunId ? second.RunId : first.RunId;
        Assert.Equal(("Cancelled", "DUPLICATE_RUN"), await StatusOf(loser));
        Assert.Null(MessageWatcher.GuidOf(answers.Single(m => RunIdOf(m) == winner), "duplicateOf"));
        Assert.Equal(winner, MessageWatcher.GuidOf(answers.Single(m => RunIdOf(m) == loser), "duplicateOf"));
        Assert.All(answers, m => Assert.Equal(key, m.GetProperty("idempotencyKey").GetString()));

        // The run proceeds under the winner's id; a request after it completed still makes no second run.
        var run = winner == first.RunId ? first : second;
        var batches = Items.Numbered(30).InBatches(15);
        await Publisher.Publish([run.Started(), .. batches.Select(run.Scraped), run.Completed(batches)]);
        await ExpectCompleted(winner);

        var third = new ScrapeRun(source);
        await Publisher.Publish(third.Requested(key));
        var late = await accepted.WaitFor(m => RunIdOf(m) == third.RunId, 1, Timeout, "RunAccepted for the late request");
        Assert.Equal(winner, MessageWatcher.GuidOf(Assert.Single(late), "duplicateOf"));
        Assert.Equal(1, await Db.Count("SELECT count(*) FROM runsaga.runs WHERE idempotency_key = @p0 AND status <> 'Cancelled'", key));
        Assert.Equal(("Cancelled", "DUPLICATE_RUN"), await StatusOf(third.RunId));
        Assert.Equal("Completed", (await Db.FindRun(winner))!.Status);
    }

    private static Guid? RunIdOf(JsonElement message) => MessageWatcher.GuidOf(message, "runId");

    private async Task<(string?, string?)> StatusOf(Guid runId) => (await Db.Query(
        "SELECT status, error_code FROM runsaga.runs WHERE id = @p0", r => ((string?)r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1)), runId))
        .DefaultIfEmpty((null, null)).Single();
}
