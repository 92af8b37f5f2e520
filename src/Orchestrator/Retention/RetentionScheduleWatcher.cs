using Microsoft.Extensions.Options;
using Npgsql;
using RunSaga.Contracts;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging.Outbox;

namespace RunSaga.Orchestrator.Retention;

/// <summary>
/// Publishes <see cref="ApplyRetention"/> (all sources) on RETENTION_SCHEDULE. The schedule lives in
/// PostgreSQL (<see cref="RecurringSchedule"/>): durable across restarts, claimed by one Orchestrator however many
/// watch it. The message goes to the outbox in the claiming transaction, so each occurrence sends exactly one
/// <c>ApplyRetention</c> (one message id, delivered at least once), also when a connection breaks mid-claim.
/// </summary>
public sealed class RetentionScheduleWatcher(
    NpgsqlDataSource dataSource,
    IOptions<RetentionOptions> retention,
    IOptions<RunSagaOptions> options,
    TimeProvider clock,
    ILogger<RetentionScheduleWatcher> logger) : BackgroundService
{
    /// <summary>The schedule's row in <c>runsaga.schedules</c> (its next occurrence is what the source page shows).</summary>
    public const string ScheduleName = "retention";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var schedule = new RecurringSchedule(dataSource, ScheduleName, retention.Value.Schedule);
        using var timer = new PeriodicTimer(options.Value.DeadlinePollInterval);
        var ensured = false;
        do
        {
            try
            {
                var now = clock.GetUtcNow().UtcDateTime;
                if (!ensured)
                {
                    await schedule.EnsureAsync(now, stoppingToken);
                    ensured = true;
                }

                await schedule.FireIfDueAsync(now, async (firing, cancellationToken) =>
                {
                    logger.LogInformation("Retention schedule ({Cron}) fired for {Occurrence:O}: ApplyRetention for every source", retention.Value.Schedule, firing.Occurrence);
                    var command = new ApplyRetention { ScheduledFor = firing.Occurrence };
                    await OutboxEntry.WriteAsync(firing.Connection, firing.Transaction, [OutboxEntry.Event(command, null)], notify: true, cancellationToken);
                }, stoppingToken);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Could not check the retention schedule; retrying. Is PostgreSQL reachable?");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
