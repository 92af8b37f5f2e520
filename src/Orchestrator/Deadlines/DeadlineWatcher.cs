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
/// </summary>
public sealed class DeadlineWatcher(
    NpgsqlDataSource dataSource,
    IBus bus,
    StagingBacklog staging,
    IOptions<RunSagaOptions> options,
    TimeProvider clock,
    ILogger<DeadlineWatcher> logger) : BackgroundService
{
    private const string DueSql = """
        SELECT id, source,
               CASE WHEN run_deadline <= now() THEN 'run' WHEN flush_deadline <= now() THEN 'flush' ELSE 'resend' END
        FROM runsaga.runs
        WHERE status NOT IN ('Completed', 'Failed', 'Cancelled')
          AND (flush_deadline <= now() OR run_deadline <= now() OR resend_at <= now())
        ORDER BY id
        LIMIT 1000
        """;

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
        if (await staging.BehindAsync(cancellationToken) is { } reason)
        {
            Behind(reason);
        }

        if (!await lease.TryClaimAsync(options.Value.DeadlinePollInterval, cancellationToken))
        {
            // Another Orchestrator polls this time.
            return 0;
        }

        var due = new List<(Guid RunId, string? Source, string Deadline)>();
        await using (var command = dataSource.CreateCommand(DueSql))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                due.Add((reader.GetGuid(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2)));
            }
        }

        var hold = HoldReason();
        foreach (var (runId, source, deadline) in due)
        {
            using var scope = RunLogScope.Begin(runId, source);
            logger.LogInformation("The run's {Deadline} deadline has passed", deadline);
            await bus.Publish(new RunDeadlinePassed { RunId = runId, Deadline = deadline, HoldReason = hold }, cancellationToken);
        }

        return due.Count;
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

    /// <summary>Why a flush verdict must wait, or null when staging has kept up for STAGING_SETTLE.</summary>
    private string? HoldReason()
    {
        var since = clock.GetUtcNow() - lastBehindAt;
        return since < options.Value.StagingSettle
            ? $"{lastBehind}, {since.TotalSeconds:0} s ago; flush verdicts wait until staging has kept up for STAGING_SETTLE ({options.Value.StagingSettle})"
            : null;
    }
}
