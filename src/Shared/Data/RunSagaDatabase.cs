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
        var connectionString = ConnectionString(configuration);
        var dataSource = new NpgsqlDataSourceBuilder(connectionString).Build();
        services.AddSingleton(dataSource);
        services.AddDbContext<RunSagaDbContext>(options => options.UseNpgsql(dataSource, ConfigureNpgsql));
        return services;
    }
}
