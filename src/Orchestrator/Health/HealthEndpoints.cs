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
        services.AddSingleton<DatabaseHealthCheck>();
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("postgresql", tags: ["ready"]);
        return services;
    }

    public static WebApplication MapRunSagaHealth(this WebApplication app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") }).AllowAnonymous();
        return app;
    }

    /// <summary>
    /// PostgreSQL answers with every migration applied. Anyone may ask /health/ready, so the answer is computed at most
    /// once per <see cref="CacheFor"/> per instance (one query then, whatever the number of callers).
    /// </summary>
    private sealed class DatabaseHealthCheck(IServiceScopeFactory scopes, TimeProvider clock) : IHealthCheck
    {
        private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(5);
        private readonly SemaphoreSlim gate = new(1, 1);
        // An immutable object swapped whole: a reader outside the gate sees the old answer or the new one, never a mix.
        private Answer? last;

        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            if (Volatile.Read(ref last) is { } cached && clock.GetUtcNow() - cached.At < CacheFor)
            {
                return cached.Result;
            }

            await gate.WaitAsync(cancellationToken);
            try
            {
                if (Volatile.Read(ref last) is { } fresh && clock.GetUtcNow() - fresh.At < CacheFor)
                {
                    return fresh.Result;
                }

                var result = await CheckAsync(cancellationToken);
                Volatile.Write(ref last, new Answer(result, clock.GetUtcNow()));
                return result;
            }
            finally
            {
                gate.Release();
            }
        }

        private sealed record Answer(HealthCheckResult Result, DateTimeOffset At);

        private async Task<HealthCheckResult> CheckAsync(CancellationToken cancellationToken)
        {
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<RunSagaDbContext>();
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
