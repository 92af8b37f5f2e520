using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Options;
using Npgsql;
using RunSaga.Consumers.Promotion;
using RunSaga.Consumers.Tests.Infrastructure;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using static RunSaga.Consumers.Tests.Infrastructure.Scrape;

namespace RunSaga.Consumers.Tests.Promotion;

/// <summary>
/// <c>runsaga.projects</c> is what readers of the seeds query: every seed column by its seed name, holding the
/// effective value, read with plain SQL as a dashboard would; and reading through it costs what a table read costs.
/// </summary>
public sealed class When_readers_query_projects(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly RunPromoter promoter = new(database.DataSource, Options.Create(new RunSagaOptions()));

    [Fact]
    public async Task Should_answer_every_seed_column_with_the_items_effective_lineage()
    {
        var source = NewSource();
        var run1 = await Promote(source, ("b1", [Item("a", title: "A"), Item("b", title: "B"), Item("c", title: "C")]));
        var run2 = await Promote(source, ("b7", [Item("a", title: "A changed"), Item("b", title: "B")]));

        var rows = await SeedColumns(source);

        // a: changed by run 2, from its batch b7.
        Assert.Equal((run1, run2, run2, "b7"), (rows["a"].CreatedBy, rows["a"].LastUpdatedBy, rows["a"].LastConfirmed, rows["a"].BatchId));
        // b: unchanged, so run 2 did not write its row, yet run 2 is its last confirmation.
        Assert.Equal((run1, run1, run2, "b1"), (rows["b"].CreatedBy, rows["b"].LastUpdatedBy, rows["b"].LastConfirmed, rows["b"].BatchId));
        Assert.Equal(run1, await database.DataSource.ScalarAsync<Guid>(
            "SELECT confirmed_run_id FROM runsaga.project_rows WHERE source = @source AND key = 'b'", ("source", source)));
        // c: missing from run 2, last confirmed by run 1.
        Assert.Equal((run1, run1, run1, "b1"), (rows["c"].CreatedBy, rows["c"].LastUpdatedBy, rows["c"].LastConfirmed, rows["c"].BatchId));

        var promoted1 = await PromotedAt(run1);
        var promoted2 = await PromotedAt(run2);
        Assert.Equal(promoted2, rows["b"].LastSeenAt);
        Assert.Equal(promoted2, rows["a"].LastSeenAt);
        Assert.Equal(promoted1, rows["c"].LastSeenAt);
        Assert.All(rows.Values, r => Assert.True(r.FirstSeenAt <= promoted1, "first_seen_at is the first promotion's"));

        // The name readers were told to use meanwhile answers the same.
        Assert.Equal(run2, await database.DataSource.ScalarAsync<Guid>(
            "SELECT last_confirmed_run_id FROM runsaga.project_state WHERE source = @source AND key = 'b'", ("source", source)));
    }

    [Fact]
    public async Task Should_count_a_source_from_the_index_alone_and_find_an_item_by_its_key_through_the_index()
    {
        var source = NewSource();
        await Promote(source, ("b1", Enumerable.Range(0, 200).Select(i => Item($"k{i:000}")).ToArray()));
        await database.DataSource.ExecuteAsync("VACUUM ANALYZE runsaga.project_rows");
        await database.DataSource.ExecuteAsync("ANALYZE runsaga.run_promotions");

        // A count reads project_rows alone: the join that makes last_confirmed_run_id is removed when nobody reads it.
        var count = await Plan("SELECT count(*) FROM runsaga.projects WHERE source = $1", source);
        Assert.Equal(["project_rows"], Relations(count));

        // A lookup by (source, key) is an index scan of the primary key, not a scan of the source.
        var lookup = await Plan("SELECT * FROM runsaga.projects WHERE source = $1 AND key = 'k100'", source);
        Assert.Contains(Nodes(lookup), n => n.Relation == "project_rows" && n.Index == "PK_projects");
        Assert.DoesNotContain(Nodes(lookup), n => n.Relation == "project_rows" && n.Type == "Seq Scan");
    }

    private async Task<Guid> Promote(string source, params (string BatchId, Contracts.ScrapedItem[] Items)[] batches)
    {
        var run = await Runs.StageAsync(database.DataSource, batches);
        await promoter.PromoteAsync(run, source, ProcessType.Ingestion, CancellationToken.None);
        return run;
    }

    private Task<DateTime> PromotedAt(Guid run) => database.DataSource.ScalarAsync<DateTime>(
        "SELECT promoted_at FROM runsaga.run_promotions WHERE run_id = @run", ("run", run));

    private async Task<Dictionary<string, SeedRow>> SeedColumns(string source)
    {
        await using var command = database.DataSource.CreateCommand("""
            SELECT key, created_by_run_id, last_updated_by_run_id, last_confirmed_run_id, batch_id, first_seen_at, last_seen_at
            FROM runsaga.projects WHERE source = $1
            """);
        command.Parameters.AddWithValue(source);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new Dictionary<string, SeedRow>();
        while (await reader.ReadAsync())
        {
            rows[reader.GetString(reader.GetOrdinal("key"))] = new SeedRow(
                reader.GetGuid(reader.GetOrdinal("created_by_run_id")),
                reader.GetGuid(reader.GetOrdinal("last_updated_by_run_id")),
                reader.GetGuid(reader.GetOrdinal("last_confirmed_run_id")),
                reader.GetString(reader.GetOrdinal("batch_id")),
                reader.GetDateTime(reader.GetOrdinal("first_seen_at")),
                reader.GetDateTime(reader.GetOrdinal("last_seen_at")));
        }

        return rows;
    }

    private async Task<JsonElement> Plan(string sql, string source)
    {
        await using var command = database.DataSource.CreateCommand($"EXPLAIN (FORMAT JSON) {sql}");
        command.Parameters.AddWithValue(source);
        var json = (string)(await command.ExecuteScalarAsync())!;
        return JsonDocument.Parse(json).RootElement[0].GetProperty("Plan").Clone();
    }

    private static List<PlanNode> Nodes(JsonElement plan)
    {
        var nodes = new List<PlanNode>();
        void Walk(JsonElement node)
        {
            nodes.Add(new PlanNode(
                node.GetProperty("Node Type").GetString()!,
                node.TryGetProperty("Relation Name", out var relation) ? relation.GetString() : null,
                node.TryGetProperty("Index Name", out var index) ? index.GetString() : null));
            if (node.TryGetProperty("Plans", out var children))
            {
                foreach (var child in children.EnumerateArray())
                {
                    Walk(child);
                }
            }
        }

        Walk(plan);
        return nodes;
    }

    private static string[] Relations(JsonElement plan) =>
        Nodes(plan).Where(n => n.Relation is not null).Select(n => n.Relation!).Distinct().ToArray();

    private sealed record SeedRow(Guid CreatedBy, Guid LastUpdatedBy, Guid LastConfirmed, string BatchId, DateTime FirstSeenAt, DateTime LastSeenAt);

    private sealed record PlanNode(string Type, string? Relation, string? Index);
}

/// <summary>
/// A database from before <c>projects</c> became a view is migrated in place: every item stays, and its last confirmation
/// reads as it did before, including a row a sync run confirmed while a full run held the source's lock.
/// </summary>
public sealed class When_a_database_from_before_the_projects_view_is_migrated(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private const string BeforeTheView = "20261123023227_FullRunConfirmations";

    [Fact]
    public async Task Should_keep_every_item_and_its_last_confirmation()
    {
        await using var db = new RunSagaDbContext(new DbContextOptionsBuilder<RunSagaDbContext>()
            .UseNpgsql(database.ConnectionString, RunSagaDatabase.ConfigureNpgsql).Options);
        var migrator = db.GetService<IMigrator>();
        await migrator.MigrateAsync(BeforeTheView);
        NpgsqlConnection.ClearAllPools();

        // Full run f promoted at 10:00:05 while sync run s waited for the lock; s (promoted 10:00:10) wrote key 'a' with
        // confirmed_at = its transaction's start, 10:00:00. Key 'b' follows full runs and was confirmed by f.
        var (full, sync) = (Guid.NewGuid(), Guid.NewGuid());
        await database.DataSource.ExecuteAsync("""
            INSERT INTO runsaga.run_promotions (run_id, source, inserted, updated, unchanged, errored, promoted_at, full_run) VALUES
                (@full, 'old', 2, 0, 0, 0, '2026-11-20 10:00:05+00', true),
                (@sync, 'old', 0, 1, 0, 0, '2026-11-20 10:00:10+00', false);
            INSERT INTO runsaga.projects (source, key, title, content_hash, status, created_by_run_id, last_updated_by_run_id,
                                          confirmed_run_id, batch_id, first_seen_at, confirmed_at, updated_at, follows_full_runs) VALUES
                ('old', 'a', 'A', 'h1', 'ok', @full, @sync, @sync, 'b2', '2026-11-20 10:00:00+00', '2026-11-20 10:00:00+00', '2026-11-20 10:00:00+00', true),
                ('old', 'b', 'B', 'h2', 'ok', @full, @full, @full, 'b1', '2026-11-20 09:59:59+00', '2026-11-20 09:59:59+00', '2026-11-20 09:59:59+00', true);
            """, ("full", full), ("sync", sync));
        var before = await Confirmations("project_state");
        Assert.Equal([sync, full], before.Select(r => r.Run));

        await migrator.MigrateAsync();
        NpgsqlConnection.ClearAllPools();

        Assert.Equal(2, await database.DataSource.ScalarAsync<long>("SELECT count(*) FROM runsaga.projects WHERE source = 'old'"));
        // The same runs; last_seen_at is now exactly their promotion time (it was their transaction's start).
        Assert.Equal(
            [(sync, new DateTime(2026, 11, 20, 10, 0, 10, DateTimeKind.Utc)), (full, new DateTime(2026, 11, 20, 10, 0, 5, DateTimeKind.Utc))],
            await Confirmations("projects"));
        Assert.Equal("A", await database.DataSource.ScalarAsync<string>("SELECT title FROM runsaga.projects WHERE source = 'old' AND key = 'a'"));
    }

    private async Task<List<(Guid Run, DateTime SeenAt)>> Confirmations(string relation)
    {
        await using var command = database.DataSource.CreateCommand(
            $"SELECT last_confirmed_run_id, last_seen_at FROM runsaga.{relation} WHERE source = 'old' ORDER BY key");
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(Guid, DateTime)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetGuid(0), reader.GetDateTime(1)));
        }

        return rows;
    }
}
