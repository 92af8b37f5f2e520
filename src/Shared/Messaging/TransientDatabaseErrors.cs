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
            || pg.IsTransient,
        NpgsqlException npgsql => npgsql.IsTransient,
        DbUpdateException { InnerException: { } inner } => IsTransient(inner),
        _ => exception.InnerException is { } innerException && IsTransient(innerException),
    };

    /// <summary>The retry policy of every RunSaga endpoint: quick at first, bounded, transient errors only.</summary>
    public static void UseRunSagaRetry(this IConsumePipeConfigurator configurator) =>
        configurator.UseMessageRetry(retry =>
        {
            retry.Handle<Exception>(IsTransient);
            retry.Exponential(10, TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(50));
        });
}
