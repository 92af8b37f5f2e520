using MassTransit.JobService.Scheduling;
using Npgsql;

namespace RunSaga.Shared.Data;

/// <summary>
/// A cron schedule kept in <c>runsaga.schedules</c>, so it survives restarts and fires once per occurrence however
/// many processes watch it: a firing is claimed by one <c>UPDATE … WHERE next_fire_at &lt;= now</c>, which a
/// second process, waiting on the row lock, then finds no longer due. The work for a firing runs inside the
/// claiming transaction and is given it: work that only writes in that transaction (e.g. to the outbox) happens exactly
/// once per occurrence; if it fails, the claim rolls back and the next look fires it again.
/// Occurrences missed while nothing ran are fired once, not once each.
/// </summary>
public sealed class RecurringSchedule(NpgsqlDataSource dataSource, string name, string cron)
{
    private const string EnsureSql = """
        INSERT INTO runsaga.schedules (name, cron, next_fire_at) VALUES (@name, @cron, @next)
        ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, next_fire_at = excluded.next_fire_at
        WHERE schedules.cron <> excluded.cron
        """;

    // FOR UPDATE: a second process waits for the first one's claim and then finds the row no longer due.
    private const string ClaimSql = """
        WITH due AS (SELECT next_fire_at FROM runsaga.schedules WHERE name = @name AND next_fire_at <= @now FOR UPDATE)
        UPDATE runsaga.schedules s SET next_fire_at = @next, last_fired_at = @now
        FROM due WHERE s.name = @name
        RETURNING due.next_fire_at
        """;

    private readonly CronExpression expression = new(cron) { TimeZone = TimeZoneInfo.Utc };

    public string Name => name;

    /// <summary>Records the schedule (or its new cron expression) with its next occurrence after <paramref name="now"/>.</summary>
    public async Task EnsureAsync(DateTime now, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(EnsureSql);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("cron", cron);
        command.Parameters.AddWithValue("next", NextAfter(now));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// If an occurrence is due at <paramref name="now"/>, claims it and runs <paramref name="fire"/> in the claiming
    /// transaction, which commits after it; true when it fired.
    /// </summary>
    public async Task<bool> FireIfDueAsync(DateTime now, Func<ScheduleFiring, CancellationToken, Task> fire, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var claim = new NpgsqlCommand(ClaimSql, connection, transaction);
        claim.Parameters.AddWithValue("name", name);
        claim.Parameters.AddWithValue("now", now);
        claim.Parameters.AddWithValue("next", NextAfter(now));
        if (await claim.ExecuteScalarAsync(cancellationToken) is not DateTime occurrence)
        {
            return false;
        }

        await fire(new ScheduleFiring(connection, transaction, DateTime.SpecifyKind(occurrence, DateTimeKind.Utc)), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    private DateTime NextAfter(DateTime now) =>
        expression.GetNextValidTimeAfter(new DateTimeOffset(DateTime.SpecifyKind(now, DateTimeKind.Utc)))?.UtcDateTime
        ?? throw new InvalidOperationException($"The cron expression '{cron}' of schedule '{name}' never fires again.");
}

/// <summary>One firing of a <see cref="RecurringSchedule"/>: the claiming transaction and the occurrence it claimed.</summary>
/// <param name="Occurrence">The occurrence claimed (the oldest missed one, when several were missed).</param>
public sealed record ScheduleFiring(NpgsqlConnection Connection, NpgsqlTransaction Transaction, DateTime Occurrence);
