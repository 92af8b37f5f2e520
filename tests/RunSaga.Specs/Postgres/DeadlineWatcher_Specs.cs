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
public sealed class When_two_orchestrators_watch_deadlines : DeadlineWatcherSpec
{

    [Fact]
    public async Task Should_announce_a_passed_deadline_once_per_poll_not_once_per_orchestrator()
    {
        var runId = await InsertRunPastItsFlushDeadline();
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
        var published = Harness.Published.Select<RunDeadlinePassed>().Where(m => m.Context.Message.RunId == runId).ToList();
        Assert.Equal(Polls, published.Count);
        Assert.All(published, m => Assert.Equal("flush", m.Context.Message.Deadline));
        await using var lease = Database.DataSource.CreateCommand("SELECT count(*) FROM runsaga.poll_leases WHERE name = 'deadline-watcher' AND polled_by IS NOT NULL");
        Assert.Equal(1L, (long)(await lease.ExecuteScalarAsync())!);
    }
}

/// <summary>
/// A run whose own messages wait in the outbox (the real watcher, a fresh migrated database): the FlushRun has not reached
/// the Consumers, so a flush deadline is announced with a hold reason even when staging has kept up (STAGING_SETTLE zero
/// here, so only the outbox can hold it). A message younger than the watcher's lag, or none, holds nothing. Without the
/// outbox check a run would fail FLUSH_INCOMPLETE while its FlushRun hangs in a host's publish (chaos seed 2024, 3a2b172).
/// </summary>
public sealed class When_a_run_s_own_messages_wait_in_the_outbox : DeadlineWatcherSpec
{
    [Fact]
    public async Task Should_hold_the_flush_verdict_until_they_are_delivered()
    {
        var runId = await InsertRunPastItsFlushDeadline();
        var watcher = NewWatcher(stagingSettle: TimeSpan.Zero);

        await Outbox(runId, age: TimeSpan.FromSeconds(10));
        var held = await Announce(watcher, runId);
        Assert.NotNull(held);
        Assert.Contains("1 of the run's own messages wait in runsaga.outbox_messages", held, StringComparison.Ordinal);

        // Delivered (the dispatcher deletes the row); a message just written is not late yet.
        await using (var delete = Database.DataSource.CreateCommand("DELETE FROM runsaga.outbox_messages"))
        {
            await delete.ExecuteNonQueryAsync();
        }

        await Outbox(runId, age: TimeSpan.Zero);
        await Task.Delay(Interval);
        Assert.Null(await Announce(watcher, runId));
    }

    /// <summary>One poll; the hold reason of the event it published for the run.</summary>
    private async Task<string?> Announce(DeadlineWatcher watcher, Guid runId)
    {
        var before = Harness.Published.Select<RunDeadlinePassed>().Count(m => m.Context.Message.RunId == runId);
        Assert.Equal(1, await watcher.PublishPassedDeadlines(CancellationToken.None));
        var published = Harness.Published.Select<RunDeadlinePassed>().Where(m => m.Context.Message.RunId == runId).ToList();
        Assert.Equal(before + 1, published.Count);
        return published[^1].Context.Message.HoldReason;
    }

    private async Task Outbox(Guid runId, TimeSpan age)
    {
        await using var insert = Database.DataSource.CreateCommand("""
            INSERT INTO runsaga.outbox_messages (message_id, run_id, message_type, body, created_at)
            VALUES (gen_random_uuid(), @run, 'RunSaga.Contracts.FlushRun', '{}', now() - @age)
            """);
        insert.Parameters.AddWithValue("run", runId);
        insert.Parameters.AddWithValue("age", age);
        await insert.ExecuteNonQueryAsync();
    }
}

/// <summary>The real deadline watcher on a fresh migrated database, MassTransit's in-memory harness as the bus.</summary>
public abstract class DeadlineWatcherSpec : IAsyncLifetime
{
    protected static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(400);
    private ServiceProvider provider = null!;

    protected PostgresDatabase Database { get; } = new();

    protected ITestHarness Harness { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await Database.InitializeAsync();
        provider = new ServiceCollection()
            .AddLogging()
            .AddMassTransitTestHarness()
            .BuildServiceProvider(true);
        Harness = provider.GetRequiredService<ITestHarness>();
        await Harness.Start();
    }

    public async Task DisposeAsync()
    {
        await Harness.Stop();
        await provider.DisposeAsync();
        await Database.DisposeAsync();
    }

    protected async Task<Guid> InsertRunPastItsFlushDeadline()
    {
        var runId = NewId.NextGuid();
        await using var insert = Database.DataSource.CreateCommand("""
            INSERT INTO runsaga.runs (id, version, saga_state, status, source, process_type, created_at, batch_ids, metrics, retention_withheld, flush_deadline)
            VALUES (@id, 1, 'Running', 'Running', 'deadline-spec', 'ingestion', now(), '{}', '[]', false, now() - interval '1 minute')
            """);
        insert.Parameters.AddWithValue("id", runId);
        await insert.ExecuteNonQueryAsync();
        return runId;
    }

    /// <summary>One Orchestrator's watcher. RabbitMQ is not configured: staging counts as behind, which only sets a hold reason (none with STAGING_SETTLE zero).</summary>
    protected DeadlineWatcher NewWatcher(TimeSpan? stagingSettle = null) => new(
        Database.DataSource,
        provider.GetRequiredService<IBus>(),
        new StagingBacklog(new ConfigurationBuilder().Build()),
        Options.Create(new RunSagaOptions { DeadlinePollInterval = Interval, StagingSettle = stagingSettle ?? new RunSagaOptions().StagingSettle }),
        TimeProvider.System,
        NullLogger<DeadlineWatcher>.Instance);
}
