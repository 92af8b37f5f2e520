using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.Health;

/// <summary>
/// <c>/health/live</c>: the process answers. <c>/health/ready</c>: PostgreSQL answers with every migration
/// applied, and the bus is connected to RabbitMQ (MassTransit's own check, tagged "ready").
/// </summary>
public static class HealthEndpoints
{
    public static IServiceCollection AddRunSagaHealthChecks(this IServiceCollection services)
    {
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("postgresql", tags: ["ready"]);
        return services;
    }

    public static WebApplication MapRunSagaHealth(this WebApplication app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") });
        return app;
    }

    private sealed class DatabaseHealthCheck(RunSagaDbContext db) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
                return pending.Count == 0
                    ? HealthCheckResult.Healthy()
                    : HealthCheckResult.Unhealthy($"Migrations not applied: {string.Join(", ", pending)}. Run 'dotnet run --project src/Orchestrator -- migrate'.");
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or TimeoutException)
            {
                return HealthCheckResult.Unhealthy("PostgreSQL is not reachable; check ConnectionStrings__Postgres.", ex);
            }
        }
    }
}
