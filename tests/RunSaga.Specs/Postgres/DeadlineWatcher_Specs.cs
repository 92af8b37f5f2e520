using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RunSaga.Consumers.Tests.Infrastructure;
using RunSaga.Contracts;
using RunSaga.Orchestrator.Deadlines;
using RunSaga.Shared.Hosting;

namespace RunSaga.Specs.Postgres;

/// <summary>
/// Two Orchestrators' deadline watchers on one database (the real watcher class, a fresh migrated database, MassTransit's
/// in-memory harness as the bus): a run whose deadline has passed is announced once per poll, by one of them, not once by
/// each. Without the poll lease this run would get two <see cref="RunDeadlinePassed"/> per poll.
/// </summary>
public sealed class When_two_orchestrators_watch_deadlines : IAsyncLifetime
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(400);
    private readonly PostgresDatabase database = new();
    private ServiceProvider provider = null!;
    private ITestHarness harness = null!;

    public async Task InitializeAsync()
    {
        await database.InitializeAsync();
        provider = new ServiceCollection()
            .AddLogging()
            .AddMassTransitTestHarness()
            .BuildServiceProvider(true);
        harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
    }

    public async Task DisposeAsync()
    {
        await harness.Stop();
        await provider.DisposeAsync();
        await database.DisposeAsync();
    }

    [Fact]
    public async Task Should_announce_a_passed_deadline_once_per_poll_not_once_per_orchestrator()
    {
        var runId = NewId.NextGuid();
        await using (var insert = database.DataSource.CreateCommand("""
            INSERT INTO runsaga.runs (id, version, saga_state, status, source, process_type, created_at, batch_ids, metrics, retention_withheld, flush_deadline)
            VALUES (@id, 1, 'Running', 'Running', 'deadline-spec', 'ingestion', now(), '{}', '[]', false, now() - interval '1 minute')
            """))
        {
            insert.Parameters.AddWithValue("id", runId);
            await insert.ExecuteNonQueryAsync();
        }

        var (first, second) = (NewWatcher(), NewWatcher());

        const int Polls = 6;
        var announcedPerPoll = new List<int>();
        for (var poll = 0; poll < Polls; poll++)
        {
            // Both Orchestrators' timers tick at the same moment.
            var counts = await Task.WhenAll(first.PublishPassedDeadlines(CancellationToken.None), second.PublishPassedDeadlines(CancellationToken.None));
            announcedPerPoll.Add(counts.Sum());
            await Task.Delay(Interval);
        }

        Assert.Equal(Enumerable.Repeat(1, Polls), announcedPerPoll);
        var published = harness.Published.Select<RunDeadlinePassed>().Where(m => m.Context.Message.RunId == runId).ToList();
        Assert.Equal(Polls, published.Count);
        Assert.All(published, m => Assert.Equal("flush", m.Context.Message.Deadline));
        await using var lease = database.DataSource.CreateCommand("SELECT count(*) FROM runsaga.poll_leases WHERE name = 'deadline-watcher' AND polled_by IS NOT NULL");
        Assert.Equal(1L, (long)(await lease.ExecuteScalarAsync())!);
    }

    /// <summary>One Orchestrator's watcher. RabbitMQ is not configured: staging counts as behind, which only sets a hold reason.</summary>
    private DeadlineWatcher NewWatcher() => new(
        database.DataSource,
        provider.GetRequiredService<IBus>(),
        new StagingBacklog(new ConfigurationBuilder().Build()),
        Options.Create(new RunSagaOptions { DeadlinePollInterval = Interval }),
        TimeProvider.System,
        NullLogger<DeadlineWatcher>.Instance);
}
