using Microsoft.EntityFrameworkCore;
using Npgsql;
using RunSaga.Shared.Data;

namespace RunSaga.Consumers.Tests.Infrastructure;

/// <summary>
/// A fresh PostgreSQL database per test class, with the real migrations applied, dropped afterwards. The
/// server comes from <c>ConnectionStrings__Postgres</c> (any database name in it is replaced), or the local
/// default; the role needs CREATEDB (or superuser). Tests inside a class share the database, so each test
/// uses its own run ids and source names.
/// </summary>
public sealed class PostgresDatabase : IAsyncLifetime
{
    private readonly string adminConnectionString;

    public PostgresDatabase()
    {
        var configured = Environment.GetEnvironmentVariable("ConnectionStrings__Postgres");
        var builder = new NpgsqlConnectionStringBuilder(
            string.IsNullOrEmpty(configured) ? RunSagaDatabase.DefaultConnectionString : configured)
        {
            Database = "postgres",
            Pooling = false,
        };
        adminConnectionString = builder.ConnectionString;

        Name = $"runsaga_test_{Guid.NewGuid():N}";
        builder.Database = Name;
        builder.Pooling = true;
        ConnectionString = builder.ConnectionString;
        DataSource = NpgsqlDataSource.Create(ConnectionString);
    }

    public string Name { get; }

    public string ConnectionString { get; }

    public NpgsqlDataSource DataSource { get; }

    public async Task InitializeAsync()
    {
        await using (var admin = new NpgsqlConnection(adminConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{Name}\"", admin);
            await create.ExecuteNonQueryAsync();
        }

        var options = new DbContextOptionsBuilder<RunSagaDbContext>()
            .UseNpgsql(ConnectionString, RunSagaDatabase.ConfigureNpgsql)
            .Options;
        await using var db = new RunSagaDbContext(options);
        await db.Database.MigrateAsync();
    }

    public async Task DisposeAsync()
    {
        await DataSource.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await using var admin = new NpgsqlConnection(adminConnectionString);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }
}
