using Npgsql;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Security;

/// <summary>
/// The stack's hosts log in to PostgreSQL as a role of their own (docs/security.md, "PostgreSQL roles"): not a
/// superuser, owner of nothing, granted rows by the migration. Everything a run does works with it (the other specs run
/// on it); what it must not do, it cannot.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_the_hosts_database_role_is_used(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_read_and_write_rows_but_never_change_the_schema_or_reach_the_server()
    {
        // A large run's statistics refresh goes through the function the owner made for it.
        var run = new ScrapeRun(NewSource("hosts-role"));
        await CompleteRun(run, Items.Numbered(10).InBatches(5));

        await using var hosts = NpgsqlDataSource.Create(Stack.HostsDatabaseConnectionString);
        await using (var superuser = hosts.CreateCommand("SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = current_user"))
        {
            Assert.False((bool)(await superuser.ExecuteScalarAsync())!, "the hosts' role is a superuser or may create roles or databases");
        }

        await using (var rows = hosts.CreateCommand("SELECT count(*) FROM runsaga.projects WHERE source = $1"))
        {
            rows.Parameters.AddWithValue(run.Source);
            Assert.Equal(10L, (long)(await rows.ExecuteScalarAsync())!);
        }

        await using (var statistics = hosts.CreateCommand("SELECT runsaga.refresh_promotion_statistics()"))
        {
            await statistics.ExecuteNonQueryAsync();
        }

        foreach (var sql in new[]
        {
            "CREATE TABLE runsaga.it_evil (i int)",
            "ALTER TABLE runsaga.runs ADD COLUMN it_evil int",
            "DROP VIEW runsaga.projects",
            "TRUNCATE runsaga.project_rows",
            "COPY (SELECT 1) TO PROGRAM 'true'",
            "CREATE SCHEMA it_evil",
        })
        {
            await using var command = hosts.CreateCommand(sql);
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => command.ExecuteNonQueryAsync());
            var state = (refused as PostgresException)?.SqlState;
            Assert.True(state is PostgresErrorCodes.InsufficientPrivilege, $"{sql} as the hosts' role: {refused.Message}");
        }
    }
}
