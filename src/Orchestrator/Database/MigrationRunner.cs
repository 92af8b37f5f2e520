using Microsoft.EntityFrameworkCore;
using Npgsql;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.Database;

/// <summary>
/// Applies the EF Core migrations, retrying while PostgreSQL is not reachable yet (a fresh container or a
/// database still starting). Used at Orchestrator start and by <c>dotnet run -- migrate</c>.
/// </summary>
public static class MigrationRunner
{
    public static async Task Migrate(IServiceProvider services, ILogger logger, CancellationToken cancellationToken)
    {
        const int attempts = 30;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var scope = services.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<RunSagaDbContext>();
                var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
                if (pending.Count > 0)
                {
                    logger.LogInformation("Applying migrations: {Migrations}", string.Join(", ", pending));
                }

                await db.Database.MigrateAsync(cancellationToken);
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
}

/// <summary>Runs the migrations before the bus starts, so no message meets a missing table.</summary>
public sealed class MigrationHostedService(IServiceProvider services, ILogger<MigrationHostedService> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => MigrationRunner.Migrate(services, logger, cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
