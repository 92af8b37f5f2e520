using Npgsql;

namespace RunSaga.IntegrationTests.Fixture;

/// <summary>
/// A fresh PostgreSQL database for one test run (the Orchestrator migrates it at start), with the two roles a deployment
/// has (docs/security.md): an owner that migrates (<see cref="OwnerConnectionString"/>) and the hosts' role, which is
/// no superuser and owns nothing (<see cref="HostsConnectionString"/>). The test itself reads and writes as the
/// administrator (<see cref="DataSource"/>). Database and roles are dropped at the end.
/// </summary>
internal sealed class TestDatabase : IAsyncDisposable
{
    private readonly string adminConnectionString;

    private TestDatabase(string name, string connectionString, string adminConnectionString, string owner, string hosts)
    {
        Name = name;
        ConnectionString = connectionString;
        this.adminConnectionString = adminConnectionString;
        OwnerConnectionString = owner;
        HostsConnectionString = hosts;
        DataSource = NpgsqlDataSource.Create(connectionString);
    }

    public string Name { get; }

    /// <summary>The administrator's connection to the test database.</summary>
    public string ConnectionString { get; }

    /// <summary>The role that owns the database and migrates it (ConnectionStrings__PostgresMigrations).</summary>
    public string OwnerConnectionString { get; }

    /// <summary>The hosts' role (ConnectionStrings__Postgres): LOGIN, NOSUPERUSER, granted rows only by the migration.</summary>
    public string HostsConnectionString { get; }

    public NpgsqlDataSource DataSource { get; }

    public static async Task<TestDatabase> Create(string baseConnectionString, string name)
    {
        var admin = new NpgsqlConnectionStringBuilder(baseConnectionString) { Database = "postgres", Pooling = false };
        var test = new NpgsqlConnectionStringBuilder(baseConnectionString) { Database = name };
        var owner = new NpgsqlConnectionStringBuilder(baseConnectionString) { Database = name, Username = $"{name}_owner", Password = Guid.NewGuid().ToString("N") };
        var hosts = new NpgsqlConnectionStringBuilder(baseConnectionString) { Database = name, Username = $"{name}_app", Password = Guid.NewGuid().ToString("N") };
        await using (var connection = new NpgsqlConnection(admin.ConnectionString))
        {
            await connection.OpenAsync();
            // One statement each: CREATE DATABASE runs alone.
            foreach (var sql in new[]
            {
                $"""CREATE ROLE "{owner.Username}" LOGIN NOSUPERUSER PASSWORD '{owner.Password}'""",
                $"""CREATE ROLE "{hosts.Username}" LOGIN NOSUPERUSER PASSWORD '{hosts.Password}'""",
                $"""CREATE DATABASE "{name}" OWNER "{owner.Username}" """,
            })
            {
                await using var command = new NpgsqlCommand(sql, connection);
                await command.ExecuteNonQueryAsync();
            }
        }

        return new TestDatabase(name, test.ConnectionString, admin.ConnectionString, owner.ConnectionString, hosts.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(adminConnectionString);
        await connection.OpenAsync();
        // FORCE: a host killed a moment ago may still have a backend finishing its statement.
        foreach (var sql in new[] { $"""DROP DATABASE IF EXISTS "{Name}" WITH (FORCE)""", $"""DROP ROLE IF EXISTS "{Name}_app" """, $"""DROP ROLE IF EXISTS "{Name}_owner" """ })
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
    }
}
