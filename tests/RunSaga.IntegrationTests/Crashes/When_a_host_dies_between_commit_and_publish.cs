using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Crashes;

/// <summary>
/// A host is killed (as SIGKILL would) right after a transaction commits and before anything about it is published:
/// the crash point <c>RUNSAGA_TEST_CRASH_AT</c>, a test-only fault hook. After a restart every notification must arrive,
/// seen by an independent subscriber bound to the message's exchange as a downstream system would be. It must arrive
/// within seconds, far below RESEND_AFTER (5 minutes here): the saga's resend is only the last resort.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_host_dies_between_commit_and_publish(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private static readonly TimeSpan AfterRestart = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan UntilTheCrash = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("accept", "Queued", "RunAccepted")]
    [InlineData("complete", "Completed", "RunCompleted")]
    [InlineData("fail", "Failed", "RunFailed")]
    public async Task Should_publish_the_saga_s_notification_once_the_orchestrator_is_back(string transition, string state, string notification)
    {
        var source = NewSource($"crash-{transition}");
        var run = new ScrapeRun(source);
        IEnumerable<OutgoingMessage> messages = transition switch
        {
            "accept" => [run.Requested()],
            "complete" => run.Whole(Items.Numbered(20).InBatches(10)),
            _ => [run.Requested(), run.Started(), run.Failed("SCRAPER_CRASHED", "the scraper crashed (a crash test)")],
        };
        await using var subscriber = await Publisher.Watch(notification);
        bool OfThisRun(System.Text.Json.JsonElement m) => MessageWatcher.GuidOf(m, "runId") == run.RunId;

        var crashed = false;
        try
        {
            // No dispatcher may look on its own between the saga's commit and the crash: a poll landing in that moment
            // (the commit's continuation can wait for a thread on a busy machine) publishes the row before the kill,
            // and the crash point is then not exercised. The Consumers' dispatcher shares the outbox, so it waits too.
            await Stack.RestartConsumers(NoOutboxPolling);
            await Stack.RestartOrchestrator(new Dictionary<string, string>(CrashAt($"saga-committed:{state}@{source}")).Concat(NoOutboxPolling).ToDictionary());
            await Publisher.Publish(messages);
            await Eventually(() => Task.FromResult(!Stack.OrchestratorIsRunning),
                $"the Orchestrator killed itself right after committing run {run.RunId} as {state}", UntilTheCrash);
            crashed = true;

            // Committed, and nothing published about it yet.
            Assert.Equal(state, (await Db.FindRun(run.RunId))!.Status);
            Assert.DoesNotContain(subscriber.Received, OfThisRun);

            await Stack.RestartOrchestrator();
            await subscriber.WaitFor(OfThisRun, 1, AfterRestart, $"{notification} for run {run.RunId} after the restart");
        }
        finally
        {
            if (!crashed || !Stack.OrchestratorIsRunning)
            {
                await Stack.RestartOrchestrator();
            }

            await Stack.RestartConsumers();
        }
    }

    [Theory]
    [InlineData("flush-committed", "FlushConfirmed")]
    [InlineData("promotion-committed", "ProjectsUpserted")]
    public async Task Should_publish_the_consumers_answer_once_they_are_back(string point, string answer)
    {
        var source = NewSource($"crash-{point.Split('-')[0]}");
        var run = new ScrapeRun(source);
        var batches = Items.Numbered(30).InBatches(10);
        await using var subscriber = await Publisher.Watch(answer);
        bool OfThisRun(System.Text.Json.JsonElement m) => MessageWatcher.GuidOf(m, "runId") == run.RunId;

        var crashed = false;
        try
        {
            await Stack.RestartConsumers(CrashAt($"{point}@{source}"));

            // Every batch is staged before the scrape completes, so the flush request itself decides the verdict.
            await Publisher.Publish([run.Requested(), run.Started(), .. batches.Select(run.Scraped)]);
            await Eventually(async () => await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", run.RunId) == batches.Count,
                "every batch staged");
            await Publisher.Publish([run.Completed(batches)]);
            await Eventually(() => Task.FromResult(!Stack.ConsumersAreRunning),
                $"the Consumers killed themselves at {point} for run {run.RunId}", UntilTheCrash);
            crashed = true;
            Assert.DoesNotContain(subscriber.Received, OfThisRun);
            if (point == "promotion-committed")
            {
                Assert.Equal(1, await Db.Count("SELECT count(*) FROM runsaga.run_promotions WHERE run_id = @p0", run.RunId));
            }

            await Stack.StartConsumers();
            await subscriber.WaitFor(OfThisRun, 1, AfterRestart, $"{answer} for run {run.RunId} after the restart");
            var row = await ExpectCompleted(run.RunId, AfterRestart);
            Assert.Equal(30, row.Inserted);
        }
        finally
        {
            if (!crashed && Stack.ConsumersAreRunning)
            {
                await Stack.RestartConsumers();
            }
            else if (!Stack.ConsumersAreRunning)
            {
                await Stack.StartConsumers();
            }
        }
    }

    /// <summary>
    /// Retention announces every cycle it records: the events are written with the cycle's outcome, so a crash right after
    /// that commit loses none (any host's dispatcher delivers them). The redelivered <c>RunCompleted</c> runs a second
    /// cycle, announced too. Before the outbox, the first cycle's <c>RetentionApplied</c> was lost.
    /// </summary>
    [Fact]
    public async Task Should_announce_every_retention_cycle_that_was_recorded()
    {
        var source = NewSource("crash-retention");
        var run = new ScrapeRun(source);
        await using var subscriber = await Publisher.Watch("RetentionApplied");
        bool OfThisSource(System.Text.Json.JsonElement m) => m.TryGetProperty("source", out var s) && s.GetString() == source;

        var crashed = false;
        try
        {
            await Stack.RestartConsumers(CrashAt($"retention-committed@{source}"));
            await Publisher.Publish(run.Whole(Items.Numbered(10).InBatches(10)));
            await Eventually(() => Task.FromResult(!Stack.ConsumersAreRunning),
                $"the Consumers killed themselves after committing a retention cycle of {source}", UntilTheCrash);
            crashed = true;
            await Stack.StartConsumers();

            await Eventually(async () => await Db.Count("SELECT count(*) FROM runsaga.retention_cycles WHERE source = @p0 AND finished_at IS NOT NULL", source) >= 2,
                "the redelivered RunCompleted ran a second cycle", AfterRestart);
            var cycles = await Db.Count("SELECT count(*) FROM runsaga.retention_cycles WHERE source = @p0", source);
            var announced = await subscriber.WaitFor(OfThisSource, (int)cycles, AfterRestart, $"RetentionApplied for each of the {cycles} cycles of {source}");
            Assert.Equal(cycles, announced.Count);
        }
        finally
        {
            if (!crashed && Stack.ConsumersAreRunning)
            {
                await Stack.RestartConsumers();
            }
            else if (!Stack.ConsumersAreRunning)
            {
                await Stack.StartConsumers();
            }
        }
    }

    /// <summary>The fault hook; a host refuses it in Production, so the crashing host runs as Development.</summary>
    /// <summary>The outbox dispatcher looks only at start and when woken (OUTBOX_POLL_INTERVAL at its maximum, ten minutes).</summary>
    private static readonly Dictionary<string, string> NoOutboxPolling = new() { ["OUTBOX_POLL_INTERVAL"] = "00:10:00" };

    private static Dictionary<string, string> CrashAt(string value) => new()
    {
        ["RUNSAGA_TEST_CRASH_AT"] = value,
        ["DOTNET_ENVIRONMENT"] = "Development",
        ["ASPNETCORE_ENVIRONMENT"] = "Development",
    };
}
