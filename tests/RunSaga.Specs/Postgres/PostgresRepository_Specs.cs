using MassTransit;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RunSaga.Consumers.Tests.Infrastructure;
using RunSaga.Contracts;
using RunSaga.Orchestrator.Runs;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging.Outbox;

namespace RunSaga.Specs.Postgres;

/// <summary>
/// The run saga on its real repository and outbox (plain Npgsql on a fresh PostgreSQL database with the migrations
/// applied), driven through MassTransit's in-memory harness: what the in-memory specs cannot show, the row lock, the
/// insert races, the version check, the columns the saga must not write, and the outbox's rows.
/// </summary>
public sealed class The_postgres_saga_repository : IAsyncLifetime
{
    private readonly PostgresDatabase database = new();
    private ServiceProvider provider = null!;
    private ITestHarness harness = null!;
    private OutboxDispatcher dispatcher = null!;
    private readonly string source = $"pg-spec-{Guid.NewGuid():N}"[..20];

    public async Task InitializeAsync()
    {
        await database.InitializeAsync();
        provider = new ServiceCollection()
            .AddLogging()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().Build())
            .Configure<RunSagaOptions>(o => o.OutboxPollInterval = TimeSpan.FromMilliseconds(200))
            .AddSingleton(database.DataSource)
            .AddDbContext<RunSagaDbContext>(o => o.UseNpgsql(database.DataSource, RunSagaDatabase.ConfigureNpgsql))
            .AddCrashPoint()
            .AddSingleton(TimeProvider.System)
            .AddSingleton<OutboxDispatcher>()
            .AddMassTransitTestHarness(x => x.AddRunSaga())
            .BuildServiceProvider(true);
        harness = provider.GetRequiredService<ITestHarness>();
        harness.TestTimeout = TimeSpan.FromSeconds(20);
        await harness.Start();
        dispatcher = provider.GetRequiredService<OutboxDispatcher>();
        await dispatcher.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await dispatcher.StopAsync(CancellationToken.None);
        await harness.Stop();
        await provider.DisposeAsync();
        await database.DisposeAsync();
    }

    [Fact]
    public async Task Should_take_a_run_to_completed_and_deliver_every_message_through_the_outbox()
    {
        var runId = Guid.NewGuid();
        await Publish(new RunRequested { RunId = runId, Source = source, RequestedBy = "specs" });
        await Publish(new RunStarted { RunId = runId, Source = source });
        await WaitFor(runId, "Running");
        await Publish(new ScrapeCompleted { RunId = runId, TotalItems = 3, TotalBatches = 1 });
        await WaitFor(runId, "Flushing");
        await Publish(new FlushConfirmed { RunId = runId, StagedItems = 3, StagedBatches = 1, BatchIds = ["b1"] });
        await WaitFor(runId, "Flushed");
        await Publish(new ProjectsUpserted { RunId = runId, Inserted = 3 });
        await Eventually(() => harness.Sent.Select<StampLineage>(x => x.Context.Message.RunId == runId).Any(), "StampLineage sent");
        await Publish(new LineageStamped { RunId = runId });
        await WaitFor(runId, "Completed");

        await Eventually(() => harness.Published.Select<RunCompleted>(x => x.Context.Message.RunId == runId).Any(), "RunCompleted published");
        Assert.Single(harness.Published.Select<RunAccepted>(x => x.Context.Message.RunId == runId));
        Assert.Single(harness.Sent.Select<FlushRun>(x => x.Context.Message.RunId == runId));
        Assert.Single(harness.Sent.Select<PromoteRun>(x => x.Context.Message.RunId == runId));
        var completed = harness.Published.Select<RunCompleted>(x => x.Context.Message.RunId == runId).Single();
        Assert.Equal(runId, completed.Context.CorrelationId);
        await Eventually(async () => await Count("SELECT count(*) FROM runsaga.outbox_messages WHERE run_id = @p0", runId) == 0,
            "the delivered outbox rows deleted");

        var row = await Row(runId);
        Assert.Equal(("Completed", 3, (int?)3), (row.Status, row.Inserted ?? 0, row.StagedItems));
    }

    [Fact]
    public async Task Should_make_one_run_of_forty_racing_first_events()
    {
        var runId = Guid.NewGuid();
        await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Publish(new RunStarted { RunId = runId, Source = source })));
        await Eventually(() => harness.Consumed.Select<RunStarted>(x => x.Context.Message.RunId == runId).Count() == 40, "all 40 consumed");
        Assert.Equal(1, await Count("SELECT count(*) FROM runsaga.runs WHERE id = @p0", runId));
        Assert.Equal("Running", (await Row(runId)).Status);
        Assert.False(harness.Published.Select<Fault<RunStarted>>().Any());
    }

    [Fact]
    public async Task Should_give_a_key_to_one_of_forty_racing_requests_and_end_the_others_as_duplicates()
    {
        var key = $"{source}:v1:p1";
        var runIds = Enumerable.Range(0, 40).Select(_ => Guid.NewGuid()).ToList();
        await Task.WhenAll(runIds.Select(id => Publish(new RunRequested { RunId = id, Source = source, IdempotencyKey = key })));
        await Eventually(async () => await Count("SELECT count(*) FROM runsaga.runs WHERE idempotency_key = @p0", key) == 40,
            "all 40 runs recorded with the key");

        var holders = await Count("SELECT count(*) FROM runsaga.runs WHERE idempotency_key = @p0 AND status = 'Queued'", key);
        var duplicates = await Count(
            "SELECT count(*) FROM runsaga.runs WHERE idempotency_key = @p0 AND status = 'Cancelled' AND error_code = 'DUPLICATE_RUN'", key);
        Assert.Equal((1, 39), (holders, duplicates));
        Assert.False(harness.Published.Select<Fault<RunRequested>>().Any());
    }

    [Fact]
    public async Task Should_not_write_a_run_that_a_message_did_not_change()
    {
        var runId = Guid.NewGuid();
        await Publish(new RunStarted { RunId = runId, Source = source });
        await WaitFor(runId, "Running");
        var version = (await Row(runId)).Version;

        // Ignored in Running: nothing changes, so nothing is written (the version stays).
        await Publish(new LineageStamped { RunId = runId });
        await Eventually(() => harness.Consumed.Select<LineageStamped>(x => x.Context.Message.RunId == runId).Any(), "LineageStamped consumed");
        await harness.InactivityTask;
        Assert.Equal(version, (await Row(runId)).Version);
    }

    [Fact]
    public async Task Should_leave_retentions_columns_as_retention_wrote_them()
    {
        var runId = Guid.NewGuid();
        await Publish(new RunStarted { RunId = runId, Source = source });
        await Publish(new ScrapeFailed { RunId = runId, ErrorCode = "UPSTREAM_DOWN", ErrorMessage = "gone" });
        await WaitFor(runId, "Failed");
        await Execute("UPDATE runsaga.runs SET archive_path = 'a/b.tar.gz', pinned_until = now() + interval '1 day', version = version + 1 WHERE id = @p0", runId);

        // A late request is still recorded on the failed run (its key and request data): the saga writes the row again.
        await Publish(new RunRequested { RunId = runId, Source = source, IdempotencyKey = $"{source}:late", RequestedBy = "late" });
        await Eventually(async () => (await Row(runId)).RequestedBy == "late", "the late request recorded");
        var row = await Row(runId);
        Assert.Equal("a/b.tar.gz", row.ArchivePath);
        Assert.NotNull(row.PinnedUntil);
    }

    private Task Publish<T>(T message)
        where T : class => harness.Bus.Publish(message);

    private async Task WaitFor(Guid runId, string sagaState) =>
        await Eventually(async () => await Count("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND saga_state = @p1", runId, sagaState) == 1,
            $"run {runId} in {sagaState}");

    private async Task<RunState> Row(Guid runId)
    {
        await using var scope = provider.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<RunSagaDbContext>();
        return await db.Runs.AsNoTracking().SingleAsync(r => r.CorrelationId == runId);
    }

    private async Task<long> Count(string sql, params object[] parameters)
    {
        await using var command = database.DataSource.CreateCommand(sql);
        for (var i = 0; i < parameters.Length; i++)
        {
            command.Parameters.AddWithValue($"p{i}", parameters[i]);
        }

        return (long)(await command.ExecuteScalarAsync())!;
    }

    private async Task Execute(string sql, params object[] parameters)
    {
        await using var command = database.DataSource.CreateCommand(sql);
        for (var i = 0; i < parameters.Length; i++)
        {
            command.Parameters.AddWithValue($"p{i}", parameters[i]);
        }

        await command.ExecuteNonQueryAsync();
    }

    private static Task Eventually(Func<bool> condition, string description) =>
        Eventually(() => Task.FromResult(condition()), description);

    private static async Task Eventually(Func<Task<bool>> condition, string description)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Not within 20 s: {description}");
            await Task.Delay(50);
        }
    }
}
