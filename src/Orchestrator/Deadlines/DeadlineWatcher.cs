using MassTransit;
using Microsoft.Extensions.Options;
using Npgsql;
using RunSaga.Contracts;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;

namespace RunSaga.Orchestrator.Deadlines;

/// <summary>
/// Turns passed run deadlines into <see cref="RunDeadlinePassed"/> events. The deadlines live in the run's
/// own row (<c>flush_deadline</c>, <c>run_deadline</c>, and <c>resend_at</c> for a command that may have
/// been lost), written in the saga's transaction, so they survive
/// a restart of every process; RabbitMQ here has no delayed-message plugin and MassTransit's schedulers
/// need one or an extra package. A deadline is republished every poll until the saga has acted on it; the
/// saga checks the deadline itself, so a repeat or a stale event changes nothing.
/// <para>
/// Every Orchestrator runs a watcher, and only one of them publishes per DEADLINE_POLL_INTERVAL: each poll is claimed in
/// <c>runsaga.poll_leases</c> (<see cref="PollLeaseClaim"/>), so two Orchestrators send no more events than one.
/// </para>
/// <para>
/// Each poll also asks whether staging is behind (<see cref="StagingBacklog"/>); a failed poll of PostgreSQL or
/// RabbitMQ counts as behind, and so does the Orchestrator's own start. Until staging has kept up for
/// STAGING_SETTLE, every event carries a <see cref="RunDeadlinePassed.HoldReason"/> and the saga postpones flush
/// verdicts: batches that waited out an outage in the queue are not reported missing. Every watcher asks about staging
/// at each of its own ticks, whether or not it holds the poll, so whichever Orchestrator publishes has watched staging
/// itself the whole time (a freshly started one holds verdicts until it has watched for STAGING_SETTLE).
/// </para>
/// <para>
/// A run whose own messages have waited in the outbox longer than <see cref="OutboxLag"/> is held too, whatever staging
/// says: its <c>FlushRun</c> has not reached the Consumers, so the missing answer is RunSaga's delay, not the scraper's.
/// So is a run with a batch inside a staging transaction at its flush deadline: RabbitMQ counts a delivered batch as
/// taken, not waiting, so a large batch being staged would otherwise look like staging has caught up. And staging counts
/// as behind while any staging transaction has outlasted a poll (<see cref="SlowStagingAsync"/>): batches delivered
/// behind it wait for a slot, counted nowhere.
/// </para>
/// </summary>
public sealed class DeadlineWatcher(
    NpgsqlDataSource dataSource,
    IBus bus,
    StagingBacklog staging,
    IOptions<RunSagaOptions> options,
    TimeProvider clock,
    ILogger<DeadlineWatcher> logger) : BackgroundService
{
    /// <summary>
    /// The runs with a passed deadline, and for each how many of its own messages RunSaga has not delivered yet (rows of
    /// <c>runsaga.outbox_messages</c> older than <see cref="OutboxLag"/>, and the oldest one's time), and whether a batch
    /// of it is being staged right now (a batch the Consumers have taken from <c>runsaga.staging</c>, so RabbitMQ no
    /// longer counts it as waiting, but have not committed yet).
    /// </summary>
    private static readonly string DueSql = $$"""
        WITH due AS (
            SELECT id, source,
                   CASE WHEN run_deadline <= now() THEN 'run' WHEN flush_deadline <= now() THEN 'flush' ELSE 'resend' END AS deadline
            FROM runsaga.runs
            WHERE status NOT IN ('Completed', 'Failed', 'Cancelled')
              AND (flush_deadline <= now() OR run_deadline <= now() OR resend_at <= now())
            ORDER BY id
            LIMIT 1000),
        undelivered AS (
            SELECT run_id, count(*) AS messages, min(created_at) AS since
            FROM runsaga.outbox_messages
            WHERE run_id IN (SELECT id FROM due) AND created_at <= now() - @lag
            GROUP BY run_id)
        SELECT due.id, due.source, due.deadline, coalesce(undelivered.messages, 0), undelivered.since,
               due.deadline = 'flush' AND {{AdvisoryLocks.RunBeingStaged("due.id")}}
        FROM due LEFT JOIN undelivered ON undelivered.run_id = due.id
        ORDER BY due.id
        """;

    /// <summary>
    /// How long a run's message may wait in the outbox before a flush verdict on the run waits for it: the dispatchers
    /// deliver within milliseconds when RabbitMQ answers, so a message this old means RunSaga's own delivery is behind.
    /// </summary>
    internal static readonly TimeSpan OutboxLag = TimeSpan.FromSeconds(2);

    private readonly PollLeaseClaim lease = new(dataSource, "deadline-watcher");
    private DateTimeOffset lastBehindAt;
    private string lastBehind = "the Orchestrator has just started";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        lastBehindAt = clock.GetUtcNow();
        using var timer = new PeriodicTimer(options.Value.DeadlinePollInterval);
        do
        {
            try
            {
                await PublishPassedDeadlines(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                Behind($"a deadline poll failed ({ex.GetType().Name}: {ex.Message})");
                await ReleaseLeaseAsync(stoppingToken);
                logger.LogWarning(ex, "Could not check run deadlines; retrying in {Interval}. Are PostgreSQL and RabbitMQ reachable?", options.Value.DeadlinePollInterval);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    internal async Task<int> PublishPassedDeadlines(CancellationToken cancellationToken)
    {
        if ((await staging.BehindAsync(cancellationToken) ?? await SlowStagingAsync(cancellationToken)) is { } reason)
        {
            Behind(reason);
        }

        if (!await lease.TryClaimAsync(options.Value.DeadlinePollInterval, cancellationToken))
        {
            // Another Orchestrator polls this time.
            return 0;
        }

        var due = new List<(Guid RunId, string? Source, string Deadline, long Undelivered, DateTime? Since, bool BeingStaged)>();
        await using (var command = dataSource.CreateCommand(DueSql))
        {
            command.Parameters.AddWithValue("lag", OutboxLag);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                due.Add((reader.GetGuid(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2), reader.GetInt64(3),
                    reader.IsDBNull(4) ? null : reader.GetDateTime(4), reader.GetBoolean(5)));
            }
        }

        var hold = HoldReason();
        foreach (var (runId, source, deadline, undelivered, since, beingStaged) in due)
        {
            using var scope = RunLogScope.Begin(runId, source);
            logger.LogInformation("The run's {Deadline} deadline has passed", deadline);
            // The run's own batch being staged says more than the pipeline's state: it is named first.
            var runHold = StagingHold(beingStaged) ?? hold ?? OutboxHold(undelivered, since);
            await bus.Publish(new RunDeadlinePassed { RunId = runId, Deadline = deadline, HoldReason = runHold }, cancellationToken);
        }

        return due.Count;
    }

    /// <summary>
    /// Why staging is behind although <c>runsaga.staging</c> holds nothing ready: a staging transaction has outlasted a
    /// poll. The Consumers take up to 8 batches per instance from the queue but stage 4 at a time, so while slow
    /// transactions hold the slots, the batches delivered behind them wait where RabbitMQ no longer counts them, and no
    /// lock of theirs is taken yet. A batch waits at most about two transactions long, so as long as every transaction
    /// ends within a poll, none waits out STAGING_SETTLE unseen.
    /// </summary>
    private async Task<string?> SlowStagingAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(AdvisoryLocks.OldestStagingTransactionSeconds);
        var seconds = (double)(await command.ExecuteScalarAsync(cancellationToken))!;
        return seconds > options.Value.DeadlinePollInterval.TotalSeconds
            ? $"a batch has been in its staging transaction for {seconds:0.0} s, longer than DEADLINE_POLL_INTERVAL "
                + "(batches the Consumers took from runsaga.staging may wait behind it)"
            : null;
    }

    /// <summary>After a failed poll: another Orchestrator may poll at its next tick (if PostgreSQL answers at all).</summary>
    private async Task ReleaseLeaseAsync(CancellationToken cancellationToken)
    {
        try
        {
            await lease.ReleaseAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // PostgreSQL is away: the lease runs out by itself.
        }
    }

    private void Behind(string reason)
    {
        lastBehindAt = clock.GetUtcNow();
        lastBehind = reason;
    }

    /// <summary>
    /// Why a flush verdict on one run must wait although staging has kept up: RunSaga has not delivered the run's own
    /// messages (its <c>FlushRun</c>, say, while a host's publish hangs on a broken connection), so the Consumers have not
    /// had their chance to confirm the flush.
    /// </summary>
    private static string? OutboxHold(long undelivered, DateTime? since) =>
        undelivered > 0
            ? $"{undelivered} of the run's own messages wait in runsaga.outbox_messages (the oldest since {since:O}); "
                + "the flush verdict waits until RunSaga has delivered them"
            : null;

    /// <summary>
    /// Why a flush verdict on one run must wait although <c>runsaga.staging</c> holds nothing: a batch of the run is in a
    /// staging transaction (a large batch, or a slow database), and may be the one the flush is missing.
    /// </summary>
    private static string? StagingHold(bool beingStaged) =>
        beingStaged ? "a batch of the run is being staged right now; the flush verdict waits until it is committed" : null;

    /// <summary>Why a flush verdict must wait, or null when staging has kept up for STAGING_SETTLE.</summary>
    private string? HoldReason()
    {
        var since = clock.GetUtcNow() - lastBehindAt;
        return since < options.Value.StagingSettle
            ? $"{lastBehind}, {since.TotalSeconds:0} s ago; flush verdicts wait until staging has kept up for STAGING_SETTLE ({options.Value.StagingSettle})"
            : null;
    }
}
