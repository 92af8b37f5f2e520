using Microsoft.EntityFrameworkCore;
using Npgsql;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.Database;

/// <summary>
/// Applies the EF Core migrations as the role of ConnectionStrings__PostgresMigrations (the schema's owner; the hosts'
/// own connection when it is not set), retrying while PostgreSQL is not reachable yet. When the hosts log in as another
/// role, grants it what they need at runtime (reading and writing rows, the promotion's statistics function) and no DDL.
/// Used at Orchestrator start and by <c>RunSaga.Orchestrator migrate</c>.
/// </summary>
public static class MigrationRunner
{
    /// <summary>What the hosts' role may do in the schema: rows only. Also given for the tables of later migrations.</summary>
    private const string Grants = """
        GRANT USAGE ON SCHEMA runsaga TO {0};
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA runsaga TO {0};
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA runsaga TO {0};
        GRANT EXECUTE ON FUNCTION runsaga.refresh_promotion_statistics() TO {0};
        ALTER DEFAULT PRIVILEGES IN SCHEMA runsaga GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {0};
        ALTER DEFAULT PRIVILEGES IN SCHEMA runsaga GRANT USAGE, SELECT ON SEQUENCES TO {0};
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON runsaga.__ef_migrations_history FROM {0};
        """;

    public static async Task Migrate(IServiceProvider services, ILogger logger, CancellationToken cancellationToken)
    {
        var configuration = services.GetRequiredService<IConfiguration>();
        var migrations = RunSagaDatabase.MigrationsConnectionString(configuration);
        var hostsRole = new NpgsqlConnectionStringBuilder(RunSagaDatabase.ConnectionString(configuration)).Username;
        var migratingRole = new NpgsqlConnectionStringBuilder(migrations).Username;
        const int attempts = 30;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var dataSource = new NpgsqlDataSourceBuilder(migrations).Build();
                await using var db = new RunSagaDbContext(new DbContextOptionsBuilder<RunSagaDbContext>()
                    .UseNpgsql(dataSource, RunSagaDatabase.ConfigureNpgsql).Options);
                var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
                if (pending.Count > 0)
                {
                    logger.LogInformation("Applying migrations as {Role}: {Migrations}", migratingRole, string.Join(", ", pending));
                    try
                    {
                        await db.Database.MigrateAsync(cancellationToken);
                    }
                    catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InsufficientPrivilege)
                    {
                        throw new InvalidOperationException(
                            $"Role {migratingRole} may not change the schema ({ex.MessageText}). Migrations run as the schema's owner: "
                            + "set ConnectionStrings__PostgresMigrations to that role (docs/security.md), or run "
                            + "'RunSaga.Orchestrator migrate' with it before starting the hosts.", ex);
                    }
                }

                if (!string.IsNullOrEmpty(hostsRole) && !string.Equals(hostsRole, migratingRole, StringComparison.Ordinal))
                {
                    var role = new NpgsqlCommandBuilder().QuoteIdentifier(hostsRole);
                    await db.Database.ExecuteSqlRawAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, Grants, role), cancellationToken);
                    logger.LogInformation("Role {HostsRole} may read and write RunSaga's rows (no DDL)", hostsRole);
                }

                logger.LogInformation("Database schema is up to date");
                return;
            }
            catch (NpgsqlException ex) when (attempt < attempts && ex.IsTransient)
            {
                logger.LogWarning("PostgreSQL is not reachable yet ({Error}); attempt {Attempt} of {Attempts}, retrying in 2 s",
                    ex.Message, attempt, attempts);
                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            }
        }
    }

    /// <summary>Warns when the hosts log in as a superuser: it can run programs on the database server (COPY … TO PROGRAM).</summary>
    public static async Task WarnIfSuperuser(IServiceProvider services, ILogger logger, CancellationToken cancellationToken)
    {
        await using var command = services.GetRequiredService<NpgsqlDataSource>().CreateCommand(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user");
        if (await command.ExecuteScalarAsync(cancellationToken) is true)
        {
            logger.LogWarning(
                "The hosts log in to PostgreSQL as a superuser: anyone who gets their credentials can run programs on the database "
                + "server. Give them a role of their own that is not a superuser (docs/security.md, 'PostgreSQL roles').");
        }
    }
}

/// <summary>Runs the migrations before the bus starts, so no message meets a missing table.</summary>
public sealed class MigrationHostedService(IServiceProvider services, ILogger<MigrationHostedService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await MigrationRunner.Migrate(services, logger, cancellationToken);
        await MigrationRunner.WarnIfSuperuser(services, logger, cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
