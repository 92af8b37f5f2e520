using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Retention;

/// <summary>
/// Retention through the real pipeline: every RunCompleted starts a cycle for its source (KEEP_RUNS=3,
/// MIN_RUN_RATIO=0.5, the defaults).
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_items_go_missing_from_full_runs(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_delete_them_only_when_the_third_full_run_without_them_completes()
    {
        var source = NewSource("retention-keep3");
        var all = Items.Numbered(10);
        var fewer = all.Take(8).ToList();
        for (var i = 0; i < 3; i++)
        {
            await CompleteRunWithRetention(source, all);
        }

        for (var missing = 1; missing <= 2; missing++)
        {
            await CompleteRunWithRetention(source, fewer);
            Assert.Equal(10, await ProjectCount(source));
        }

        var third = await CompleteRunWithRetention(source, fewer, expectedOutcome: "succeeded");

        Assert.Equal(8, await ProjectCount(source));
        Assert.Equal(
            ["item-00009", "item-00010"],
            await Db.Query(
                "SELECT key FROM runsaga.project_lineage WHERE source = @p0 AND change = 'deleted' AND run_id = @p1 ORDER BY key",
                reader => reader.GetString(0), source, third));

        // The run's lineage summary, and its page in the API, count what its retention cycle deleted.
        Assert.Equal(2, await Db.Count("SELECT deleted FROM runsaga.run_lineage WHERE run_id = @p0", third));
        using var api = Stack.Api("reader");
        var view = await System.Net.Http.Json.HttpClientJsonExtensions.GetFromJsonAsync<System.Text.Json.JsonElement>(api, $"runs/{third}");
        Assert.Equal(2, view.GetProperty("counts").GetProperty("deleted").GetInt32());
    }

    [Fact]
    public async Task Should_withhold_after_a_suspiciously_small_run_until_released()
    {
        var source = NewSource("retention-withheld");
        var all = Items.Numbered(10);
        for (var i = 0; i < 3; i++)
        {
            await CompleteRunWithRetention(source, all);
        }

        var small = await CompleteRunWithRetention(source, all.Take(2).ToList(), expectedOutcome: "withheld");

        Assert.Equal(10, await ProjectCount(source));
        Assert.Equal([true], await Db.Query("SELECT retention_withheld FROM runsaga.runs WHERE id = @p0", reader => reader.GetBoolean(0), small));

        await Stack.HostPublisher.Publish([new OutgoingMessage("ReleaseRetention", new { source, releasedBy = "integration-test" })]);
        await Db.WaitForRow(
            "SELECT count(*) FROM runsaga.source_retention WHERE source = @p0 AND NOT withheld", source);
        await Stack.HostPublisher.Publish([new OutgoingMessage("ApplyRetention", new { source, dryRun = false, requestedBy = "integration-test" })]);
        await Db.WaitForRow(
            "SELECT count(*) FROM runsaga.retention_cycles WHERE source = @p0 AND trigger = 'manual' AND outcome = 'succeeded'", source);
        // The cycle records who asked and who RabbitMQ vouches published the command.
        Assert.Equal(1, await Db.Count(
            "SELECT count(*) FROM runsaga.retention_cycles WHERE source = @p0 AND trigger = 'manual' AND requested_by = 'integration-test' AND published_by = @p1",
            source, Stack.BrokerUsers.Orchestrator.Name));

        // Once released, the small run is the newest of the last three full runs: what it lacked is stale only
        // after three runs without it, so nothing is deleted yet — but the cycle ran instead of being withheld.
        Assert.Equal(10, await ProjectCount(source));
    }

    [Fact]
    public async Task Should_let_a_failed_run_between_full_runs_change_nothing()
    {
        var source = NewSource("retention-failed-between");
        var all = Items.Numbered(10);
        var fewer = all.Take(8).ToList();
        for (var i = 0; i < 3; i++)
        {
            await CompleteRunWithRetention(source, all);
        }

        await CompleteRunWithRetention(source, fewer);
        await CompleteRunWithRetention(source, fewer);

        // A failed run that saw none of the items: it is not a full run that missed them, and while it is the
        // newest run of the source nothing is pruned at all.
        var failed = new ScrapeRun(source);
        await Publisher.Publish([failed.Requested(), failed.Started(), failed.Scraped(Items.Numbered(1, "other").InBatches(1)[0]),
            failed.Failed("UPSTREAM_UNAVAILABLE", "503")]);
        await ExpectFailed(failed.RunId, "UPSTREAM_UNAVAILABLE");
        await Stack.HostPublisher.Publish([new OutgoingMessage("ApplyRetention", new { source, requestedBy = "integration-test" })]);
        await Db.WaitForRow(
            "SELECT count(*) FROM runsaga.retention_cycles WHERE source = @p0 AND trigger = 'manual' AND outcome = 'skipped' AND reason LIKE '%Failed%'",
            source);
        Assert.Equal(10, await ProjectCount(source));

        // The third full run without them is what deletes them, as if the failed run had never happened.
        await CompleteRunWithRetention(source, fewer, expectedOutcome: "succeeded");
        Assert.Equal(8, await ProjectCount(source));
    }

    [Fact]
    public async Task Should_never_delete_through_sync_runs()
    {
        var source = NewSource("retention-sync");
        var all = Items.Numbered(10);
        for (var i = 0; i < 3; i++)
        {
            await CompleteRunWithRetention(source, all);
        }

        for (var i = 0; i < 4; i++)
        {
            await CompleteRunWithRetention(source, all.Take(2).ToList(), processType: "sync");
        }

        Assert.Equal(10, await ProjectCount(source));
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.project_lineage WHERE source = @p0 AND change = 'deleted'", source));
    }

    /// <summary>Publishes a whole run, waits for it to complete and for the retention cycle it started to finish.</summary>
    private async Task<Guid> CompleteRunWithRetention(
        string source, IReadOnlyList<Item> items, string? expectedOutcome = null, string processType = "ingestion")
    {
        // The cycle names the newest completed full run, which is not a sync run: count the source's cycles instead.
        const string Cycles = "SELECT count(*) FROM runsaga.retention_cycles WHERE source = @p0 AND trigger = 'run-completed' AND finished_at IS NOT NULL";
        var before = await Db.Count(Cycles, source);
        var run = new ScrapeRun(source, processType);
        await Publisher.Publish(run.Whole(items.InBatches(5)));
        await ExpectCompleted(run.RunId);
        await Eventually(async () => await Db.Count(Cycles, source) > before, $"the retention cycle after run {run.RunId}");
        if (expectedOutcome is not null)
        {
            Assert.Equal(
                [expectedOutcome],
                await Db.Query(
                    "SELECT outcome FROM runsaga.retention_cycles WHERE source = @p0 AND trigger = 'run-completed' ORDER BY id DESC LIMIT 1",
                    reader => reader.GetString(0), source));
        }

        return run.RunId;
    }

    private Task<long> ProjectCount(string source) => Db.Count("SELECT count(*) FROM runsaga.projects WHERE source = @p0", source);
}
