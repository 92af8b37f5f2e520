using Microsoft.Extensions.Options;
using Npgsql;
using RunSaga.Consumers.Promotion;
using RunSaga.Consumers.Tests.Infrastructure;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using static RunSaga.Consumers.Tests.Infrastructure.Scrape;

namespace RunSaga.Consumers.Tests.Promotion;

/// <summary>
/// Regression test for the fault campaign's seed 99: a promotion whose transaction began first but was granted the
/// source lock later must record the later <c>promoted_at</c>, the moment it was applied (retention orders a source's
/// runs by it). Both promotions are the real <see cref="RunPromoter"/>; the spec only holds the source lock, as a
/// long promotion of the source would, while the first one begins and waits.
/// </summary>
public sealed class When_two_promotions_of_a_source_cross(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_record_them_in_the_order_they_were_applied()
    {
        var source = NewSource();
        var first = await Runs.StageAsync(database.DataSource, ("b1", [Item("a", title: "from the first")]));
        var second = await Runs.StageAsync(database.DataSource, ("b1", [Item("a", title: "from the second")]));
        var promoter = new RunPromoter(database.DataSource, Options.Create(new RunSagaOptions()));

        // Another promotion of the source holds its lock…
        await using var holder = await database.DataSource.OpenConnectionAsync();
        await using var transaction = await holder.BeginTransactionAsync();
        await Execute(holder, transaction, AdvisoryLocks.LockSource, ("source", source));

        // …while the first run's promotion begins its transaction (now() is fixed from here on) and waits for the lock.
        var waiting = promoter.PromoteAsync(first, source, ProcessType.Ingestion, CancellationToken.None);
        await WaitUntilWaitingForTheLock();
        await Task.Delay(100);
        var released = await Scalar<DateTime>(holder, transaction, "SELECT clock_timestamp()");
        await transaction.CommitAsync();
        await waiting;
        await promoter.PromoteAsync(second, source, ProcessType.Ingestion, CancellationToken.None);

        var firstAt = await database.DataSource.ScalarAsync<DateTime>("SELECT promoted_at FROM runsaga.run_promotions WHERE run_id = @run", ("run", first));
        Assert.True(firstAt >= released, $"the first promotion was applied after {released:O}, but records {firstAt:O} (when its transaction began)");
        var order = await database.DataSource.ScalarAsync<string>(
            "SELECT string_agg(run_id::text, ',' ORDER BY promoted_at) FROM runsaga.run_promotions WHERE source = @source", ("source", source));
        Assert.Equal($"{first},{second}", order);
        Assert.Equal("from the second", (await database.DataSource.ProjectAsync(source, "a"))!.Title);
    }

    /// <summary>Until a backend of this database waits for an advisory lock (the promotion's source lock); fails after 30 s.</summary>
    private async Task WaitUntilWaitingForTheLock()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'") == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the promotion never waited for the source lock: the crossing was not made");
            await Task.Delay(20);
        }
    }

    private static async Task<T> Scalar<T>(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static async Task Execute(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
        }
    }
}
