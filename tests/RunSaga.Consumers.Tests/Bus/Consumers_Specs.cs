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

        await SendAsync(QueueNames.Flush, Announce(runId, 3, 2));
        Assert.True(await harness.Consumed.Any<FlushRun>(x => x.Context.Message.RunId == runId));
        await harness.Bus.Publish(Batch(runId, "b2", ["c"]));

        Assert.True(await harness.Published.Any<FlushConfirmed>(x =>
            x.Context.Message.RunId == runId && x.Context.Message.StagedItems == 3 && x.Context.Message.StagedBatches == 2));
    }

    [Fact]
    public async Task Should_promote_then_stamp_lineage_and_answer_each_command()
    {
        var source = NewSource();
        var runId = await Runs.StageAsync(database.DataSource, ("b1", [Item("a"), Item("b", error: "x")]));

        await SendAsync(QueueNames.Promotion, new PromoteRun { RunId = runId, Source = source, ProcessType = "ingestion" });
        Assert.True(await harness.Published.Any<ProjectsUpserted>(x =>
            x.Context.Message.RunId == runId && x.Context.Message.Inserted == 1 && x.Context.Message.Errored == 1));

        await SendAsync(QueueNames.Lineage, new StampLineage { RunId = runId, Source = source, ProcessType = "ingestion" });
        Assert.True(await harness.Published.Any<LineageStamped>(x => x.Context.Message.RunId == runId));
    }

    [Fact]
    public async Task Should_fault_a_promotion_that_cannot_be_done()
    {
        var runId = Guid.NewGuid();

        await SendAsync(QueueNames.Promotion, new PromoteRun { RunId = runId, Source = "", ProcessType = "ingestion" });

        Assert.True(await harness.Published.Any<Fault<PromoteRun>>(x => x.Context.Message.Message.RunId == runId));
        Assert.False(await harness.Published.Any<ProjectsUpserted>(x => x.Context.Message.RunId == runId));
    }

    private async Task SendAsync<T>(string queue, T message)
        where T : class =>
        await (await harness.Bus.GetSendEndpoint(QueueNames.Address(queue))).Send(message);
}
