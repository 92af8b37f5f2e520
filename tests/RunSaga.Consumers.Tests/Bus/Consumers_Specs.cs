using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using RunSaga.Consumers.Tests.Infrastructure;
using RunSaga.Contracts;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;
using static RunSaga.Consumers.Tests.Infrastructure.Scrape;

namespace RunSaga.Consumers.Tests.Bus;

/// <summary>
/// The consumers as the host registers them (<c>AddRunSagaConsumers</c>), on MassTransit's in-memory test
/// harness, against the real database. Commands go to the queues the saga sends them to.
/// </summary>
public sealed class When_the_consumers_run_on_the_bus(PostgresDatabase database) : IClassFixture<PostgresDatabase>, IAsyncLifetime
{
    private ServiceProvider provider = null!;
    private ITestHarness harness = null!;

    public async Task InitializeAsync()
    {
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton(database.DataSource);
        services.AddOptions<RunSagaOptions>().Configure(o => o.MaxBatchItems = 5);
        services.AddMassTransitTestHarness(x => x.AddRunSagaConsumers());
        provider = services.BuildServiceProvider(validateScopes: true);
        harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
    }

    public async Task DisposeAsync()
    {
        await harness.Stop();
        await provider.DisposeAsync();
    }

    [Fact]
    public async Task Should_refuse_an_oversized_batch_whole_without_faulting()
    {
        var runId = Guid.NewGuid();

        await harness.Bus.Publish(Batch(runId, "big", ["a", "b", "c", "d", "e", "f"]));

        Assert.True(await harness.Published.Any<BatchRejected>(x =>
            x.Context.Message.RunId == runId && x.Context.Message.ErrorCode == "BATCH_TOO_LARGE"));
        Assert.False(await harness.Published.Any<Fault<ItemsScraped>>(x => x.Context.Message.Message.RunId == runId));
        Assert.Equal(0L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @run", ("run", runId)));
    }

    [Fact]
    public async Task Should_confirm_the_flush_when_the_last_batch_lands_after_the_request()
    {
        var runId = Guid.NewGuid();
        await harness.Bus.Publish(Batch(runId, "b1", ["a", "b"]));
        Assert.True(await harness.Consumed.Any<ItemsScraped>(x => x.Context.Message.RunId == runId));

        await Runs.RecordAsync(database.DataSource, runId, NewSource(), "Flushing", expectedItems: 3, expectedBatches: 2);
        await SendAsync(QueueNames.Flush, Announce(runId, 3, 2));
        Assert.True(await harness.Consumed.Any<FlushRun>(x => x.Context.Message.RunId == runId));
        await harness.Bus.Publish(Batch(runId, "b2", ["c"]));

        Assert.True(await harness.Published.Any<FlushConfirmed>(x =>
            x.Context.Message.RunId == runId && x.Context.Message.StagedItems == 3 && x.Context.Message.StagedBatches == 2));
    }

    [Fact]
    public async Task Should_promote_with_the_lineage_summary_and_still_answer_a_stamp_lineage()
    {
        var source = NewSource();
        var runId = await Runs.StageAsync(database.DataSource, ("b1", [Item("a"), Item("b", error: "x")]));
        await Runs.RecordAsync(database.DataSource, runId, source, "Flushed");

        await SendAsync(QueueNames.Promotion, new PromoteRun { RunId = runId, Source = source, ProcessType = "ingestion" });
        Assert.True(await harness.Published.Any<ProjectsUpserted>(x =>
            x.Context.Message.RunId == runId && x.Context.Message.Inserted == 1 && x.Context.Message.Errored == 1 && x.Context.Message.LineageRecorded));
        Assert.Equal(1, await database.DataSource.ScalarAsync<int>(
            "SELECT discovered FROM runsaga.run_lineage WHERE run_id = @run", ("run", runId)));

        // A saga from before the summary moved into the promotion still sends StampLineage: it is answered.
        await SendAsync(QueueNames.Lineage, new StampLineage { RunId = runId, Source = source, ProcessType = "ingestion" });
        Assert.True(await harness.Published.Any<LineageStamped>(x => x.Context.Message.RunId == runId));
    }

    [Fact]
    public async Task Should_refuse_to_promote_a_run_the_ledger_does_not_have()
    {
        var runId = await Runs.StageAsync(database.DataSource, ("b1", [Item("a")]));

        await SendAsync(QueueNames.Promotion, new PromoteRun { RunId = runId, Source = NewSource(), ProcessType = "ingestion" });

        Assert.True(await harness.Published.Any<Fault<PromoteRun>>(x => x.Context.Message.Message.RunId == runId));
        Assert.False(await harness.Published.Any<ProjectsUpserted>(x => x.Context.Message.RunId == runId));
        Assert.Equal(0L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.run_promotions WHERE run_id = @run", ("run", runId)));
    }

    [Theory]
    [InlineData("Cancelled")]
    [InlineData("Failed")]
    public async Task Should_promote_nothing_for_a_run_that_ended_before_its_promotion_and_not_fault(string sagaState)
    {
        var source = NewSource();
        var runId = await Runs.StageAsync(database.DataSource, ("b1", [Item("a")]));
        await Runs.RecordAsync(database.DataSource, runId, source, sagaState);

        await SendAsync(QueueNames.Promotion, new PromoteRun { RunId = runId, Source = source, ProcessType = "ingestion" });

        Assert.True(await harness.Consumed.Any<PromoteRun>(x => x.Context.Message.RunId == runId));
        Assert.False(await harness.Published.Any<Fault<PromoteRun>>(x => x.Context.Message.Message.RunId == runId));
        Assert.False(await harness.Published.Any<ProjectsUpserted>(x => x.Context.Message.RunId == runId));
        Assert.Equal(0L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.project_rows WHERE source = @source", ("source", source)));
    }

    [Theory]
    [InlineData("Running")]
    [InlineData("Flushing")]
    [InlineData("Queued")]
    public async Task Should_refuse_to_promote_a_run_that_is_not_flushed(string sagaState)
    {
        var source = NewSource();
        var runId = await Runs.StageAsync(database.DataSource, ("b1", [Item("a")]));
        await Runs.RecordAsync(database.DataSource, runId, source, sagaState);

        await SendAsync(QueueNames.Promotion, new PromoteRun { RunId = runId, Source = source, ProcessType = "ingestion" });

        Assert.True(await harness.Published.Any<Fault<PromoteRun>>(x => x.Context.Message.Message.RunId == runId));
        Assert.Equal(0L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.project_rows WHERE source = @source", ("source", source)));
    }

    [Fact]
    public async Task Should_promote_into_the_ledgers_source_whatever_the_command_names()
    {
        var source = NewSource();
        var victim = NewSource();
        var runId = await Runs.StageAsync(database.DataSource, ("b1", [Item("a")]));
        await Runs.RecordAsync(database.DataSource, runId, source, "Flushed", processType: "sync");

        await SendAsync(QueueNames.Promotion, new PromoteRun { RunId = runId, Source = victim, ProcessType = "ingestion" });

        Assert.True(await harness.Published.Any<ProjectsUpserted>(x => x.Context.Message.RunId == runId));
        Assert.Equal(1L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.project_rows WHERE source = @source", ("source", source)));
        Assert.Equal(0L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.project_rows WHERE source = @source", ("source", victim)));
        Assert.False(await database.DataSource.ScalarAsync<bool>(
            "SELECT full_run FROM runsaga.run_promotions WHERE run_id = @run", ("run", runId)));
    }

    [Fact]
    public async Task Should_refuse_to_promote_batches_staged_after_the_flush_counted_the_others()
    {
        var source = NewSource();
        // "late": a batch the flush did not count, claimed in the moment before the saga recorded Flushed.
        var runId = await Runs.StageAsync(database.DataSource, ("b1", [Item("a")]), ("late", [Item("z")]));
        await Runs.RecordAsync(database.DataSource, runId, source, "Flushed");
        await database.DataSource.ScalarAsync<int>(
            "UPDATE runsaga.runs SET batch_ids = '{b1}' WHERE id = @run RETURNING 1", ("run", runId));

        await SendAsync(QueueNames.Promotion, new PromoteRun { RunId = runId, Source = source, ProcessType = "ingestion" });

        Assert.True(await harness.Published.Any<Fault<PromoteRun>>(x => x.Context.Message.Message.RunId == runId));
        Assert.Equal(0L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.project_rows WHERE source = @source", ("source", source)));
    }

    [Fact]
    public async Task Should_refuse_a_flush_of_a_run_that_is_not_waiting_for_one_and_use_the_ledgers_counts()
    {
        var running = Guid.NewGuid();
        await Runs.RecordAsync(database.DataSource, running, NewSource(), "Running", expectedItems: 1, expectedBatches: 1);
        await SendAsync(QueueNames.Flush, Announce(running, 1, 1));
        Assert.True(await harness.Published.Any<Fault<FlushRun>>(x => x.Context.Message.Message.RunId == running));
        Assert.Equal(0L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.flush_requests WHERE run_id = @run", ("run", running)));

        // A command claiming other counts than the ledger's records the ledger's.
        var flushing = Guid.NewGuid();
        await Runs.RecordAsync(database.DataSource, flushing, NewSource(), "Flushing", expectedItems: 7, expectedBatches: 3);
        await SendAsync(QueueNames.Flush, Announce(flushing, 1, 1));
        Assert.True(await harness.Consumed.Any<FlushRun>(x => x.Context.Message.RunId == flushing));
        Assert.Equal(7, await database.DataSource.ScalarAsync<int>(
            "SELECT expected_items FROM runsaga.flush_requests WHERE run_id = @run", ("run", flushing)));
    }

    [Fact]
    public async Task Should_refuse_to_stamp_lineage_of_a_run_never_promoted()
    {
        var source = NewSource();
        var runId = await Runs.StageAsync(database.DataSource, ("b1", [Item("a")]));
        await Runs.RecordAsync(database.DataSource, runId, source, "Flushed");

        await SendAsync(QueueNames.Lineage, new StampLineage { RunId = runId, Source = source, ProcessType = "ingestion" });

        Assert.True(await harness.Published.Any<Fault<StampLineage>>(x => x.Context.Message.Message.RunId == runId));
        Assert.False(await harness.Published.Any<LineageStamped>(x => x.Context.Message.RunId == runId));
    }

    private async Task SendAsync<T>(string queue, T message)
        where T : class =>
        await (await harness.Bus.GetSendEndpoint(QueueNames.Address(queue))).Send(message);
}
