using MassTransit;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace RunSaga.Shared.Messaging;

/// <summary>
/// Which failures are worth retrying: lost races on a row (unique violation on insert, serialization
/// failure, deadlock, a stale saga version) and transient connection trouble. Everything else is a bug or
/// bad data, and goes to the error queue at once.
/// </summary>
public static class TransientDatabaseErrors
{
    public static bool IsTransient(Exception exception) => exception switch
    {
        ConcurrencyException => true,
        DbUpdateConcurrencyException => true,
        PostgresException pg => pg.SqlState is PostgresErrorCodes.UniqueViolation
            or PostgresErrorCodes.SerializationFailure
            or PostgresErrorCodes.DeadlockDetected
            or PostgresErrorCodes.LockNotAvailable
            or PostgresErrorCodes.AdminShutdown
            or PostgresErrorCodes.CannotConnectNow
            || pg.IsTransient
            // A prepared statement planned before a migration changed its table: Npgsql prepares it again on the retry.
            || (pg.SqlState == PostgresErrorCodes.FeatureNotSupported && pg.MessageText.Contains("cached plan", StringComparison.Ordinal)),
        // With several servers in the connection string (Target Session Attributes=primary), Npgsql refuses at once for
        // Host Recheck Seconds (10 s) after a connection to the primary broke, and during a failover none is primary yet:
        // "No suitable host was found" ("Unable to connect to a suitable host" when it tried them), which it does not mark
        // transient. It clears once the primary (old or new) answers.
        NpgsqlException npgsql => npgsql.IsTransient
            || npgsql.Message.StartsWith("No suitable host was found", StringComparison.Ordinal)
            || npgsql.Message.StartsWith("Unable to connect to a suitable host", StringComparison.Ordinal),
        DbUpdateException { InnerException: { } inner } => IsTransient(inner),
        _ => exception.InnerException is { } innerException && IsTransient(innerException),
    };

    /// <summary>
    /// The waits between the retries of a transient failure: quick first (a lost race clears at once), then up to
    /// 30 s apart, so a message rides out a PostgreSQL restart or an outage of about three minutes before it goes to
    /// its <c>_error</c> queue.
    /// </summary>
    public static readonly TimeSpan[] RetryIntervals =
    [
        .. new[] { 20, 50, 100, 200, 500 }.Select(ms => TimeSpan.FromMilliseconds(ms)),
        .. new[] { 1, 2, 5, 10, 20, 30, 30, 30, 30, 30 }.Select(s => TimeSpan.FromSeconds(s)),
    ];

    /// <summary>The retry policy of every RunSaga endpoint: quick at first, bounded, transient errors only.</summary>
    public static void UseRunSagaRetry(this IConsumePipeConfigurator configurator) =>
        configurator.UseMessageRetry(retry =>
        {
            retry.Handle<Exception>(IsTransient);
            retry.Intervals(RetryIntervals);
        });
}
