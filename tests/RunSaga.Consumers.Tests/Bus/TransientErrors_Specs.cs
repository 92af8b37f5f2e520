using Npgsql;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Tests.Bus;

/// <summary>
/// With a primary and a standby in the connection string, Npgsql answers "No suitable host was found" while no server is
/// primary (a failover) or for Host Recheck Seconds after a connection to the primary broke. That must be retried like
/// any lost connection, not sent to an _error queue (the fault campaign's seed 77 lost a RunDeadlinePassed that way).
/// </summary>
public sealed class When_no_database_server_is_primary
{
    [Fact]
    public async Task Should_retry_the_message()
    {
        // Two ports nothing listens on: neither host can be primary.
        await using var dataSource = NpgsqlDataSource.Create(
            "Host=127.0.0.1:1,127.0.0.1:2;Target Session Attributes=primary;Username=nobody;Password=none;Timeout=2");
        // The first attempt tries both hosts; the next finds them marked offline and does not try.
        var tried = await Assert.ThrowsAnyAsync<NpgsqlException>(async () => await dataSource.OpenConnectionAsync());
        var cached = await Assert.ThrowsAnyAsync<NpgsqlException>(async () => await dataSource.OpenConnectionAsync());

        Assert.StartsWith("Unable to connect to a suitable host", tried.Message, StringComparison.Ordinal);
        Assert.StartsWith("No suitable host was found", cached.Message, StringComparison.Ordinal);
        Assert.True(TransientDatabaseErrors.IsTransient(tried));
        Assert.True(TransientDatabaseErrors.IsTransient(cached));
    }
}
