using Microsoft.EntityFrameworkCore;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace RunSaga.Shared.Data;

/// <summary>Registers the database for either host: one pooled data source, the DbContext on top of it.</summary>
public static class RunSagaDatabase
{
    public const string DefaultConnectionString =
        "Host=localhost;Port=5432;Database=runsaga;Username=runsaga;Password=runsaga;SSL Mode=Disable";

    public static string ConnectionString(IConfiguration configuration) =>
        configuration.GetConnectionString("Postgres") is { Length: > 0 } value ? value : DefaultConnectionString;

    /// <summary>
    /// The role that migrates (ConnectionStrings__PostgresMigrations): it owns the schema and grants the hosts' role
    /// (ConnectionStrings__Postgres) what they need at runtime, which is no DDL. Unset: the hosts' own connection.
    /// </summary>
    public static string MigrationsConnectionString(IConfiguration configuration) =>
        configuration.GetConnectionString("PostgresMigrations") is { Length: > 0 } value ? value : ConnectionString(configuration);

    public static void ConfigureNpgsql(NpgsqlDbContextOptionsBuilder npgsql) =>
        npgsql.MigrationsHistoryTable("__ef_migrations_history", RunSagaDbContext.Schema);

    public static IServiceCollection AddRunSagaDatabase(this IServiceCollection services, IConfiguration configuration)
    {
        var builder = new NpgsqlDataSourceBuilder(ConnectionString(configuration));

        // Every statement the hosts repeat (staging, the flush check, the saga's reads, the outbox) is prepared once per
        // connection, so PostgreSQL parses and plans it once instead of on every message. An operator's own
        // "Max Auto Prepare" in the connection string wins.
        if (builder.ConnectionStringBuilder.MaxAutoPrepare == 0)
        {
            builder.ConnectionStringBuilder.MaxAutoPrepare = 64;
            builder.ConnectionStringBuilder.AutoPrepareMinUsages = 2;
        }

        var dataSource = builder.Build();
        services.AddSingleton(dataSource);
        services.AddDbContext<RunSagaDbContext>(options => options.UseNpgsql(dataSource, ConfigureNpgsql));
        return services;
    }
}
