using Microsoft.Extensions.Options;
using Npgsql;
using RunSaga.Consumers.Promotion;
using RunSaga.Consumers.Tests.Infrastructure;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using static RunSaga.Consumers.Tests.Infrastructure.Scrape;

namespace RunSaga.Consumers.Tests.Promotion;

/// <summary>
/// Regression test for the fault campaign's seed 99: a promotion whose transaction started first but was granted
/// the source lock second must record the later <c>promoted_at</c>, because that is the order it was applied in
/// (retention orders a source's runs by it).
/// </summary>
public sealed class When_two_promotions_of_a_source_cross(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_record_them_in_the_order_they_were_applied()
    {
        var source = NewSource();
        var first = await Runs.StageAsync(database.DataSource, ("b1", [Item("a", title: "from the first")]));
        var second = await Runs.StageAsync(database.DataSource, ("b1", [Item("a", title: "from the second")]));

        // The first promotion's transaction starts now (now() is fixed from here on)…
        await using var early = await database.DataSource.OpenConnectionAsync();
        await using var transaction = await early.BeginTransactionAsync();
        await Execute(early, transaction, "SELECT now()");
        await Task.Delay(50);

        // …but the second one is granted the source lock and applied before it.
        await new RunPromoter(database.DataSource, Options.Create(new RunSagaOptions())).PromoteAsync(second, source, ProcessType.Ingestion, CancellationToken.None);
        await Execute(early, transaction, AdvisoryLocks.LockSource, ("source", source));
        await Execute(early, transaction, PromotionSql.Promote, ("run", first), ("source", source), ("full", true));
        await transaction.CommitAsync();

        var order = await database.DataSource.ScalarAsync<string>(
            "SELECT string_agg(run_id::text, ',' ORDER BY promoted_at) FROM runsaga.run_promotions WHERE source = @source", ("source", source));
        Assert.Equal($"{second},{first}", order);
        Assert.Equal("from the first", (await database.DataSource.ProjectAsync(source, "a"))!.Title);
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
