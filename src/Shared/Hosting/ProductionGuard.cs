using Microsoft.Extensions.Configuration;
using Npgsql;
using RunSaga.Shared.Data;
using Microsoft.Extensions.Hosting;
using RunSaga.Shared.Messaging;

namespace RunSaga.Shared.Hosting;

/// <summary>
/// A host in the Production environment (the default when DOTNET_ENVIRONMENT is not set) refuses to start with
/// credentials anyone can guess: RabbitMQ's guest user, or the password <c>runsaga</c> that the development defaults
/// give PostgreSQL (appsettings.json, scripts/lib/services.sh for the tests' own role).
/// </summary>
public static class ProductionGuard
{
    /// <summary>The password of the development defaults.</summary>
    public const string DevelopmentPostgresPassword = "runsaga";

    public static void RefuseDevelopmentCredentials(this IHostApplicationBuilder builder)
    {
        if (!builder.Environment.IsProduction())
        {
            return;
        }

        var problems = Problems(builder.Configuration).ToList();
        if (problems.Count > 0)
        {
            throw new InvalidOperationException(
                "Refusing to start in Production with development credentials: " + string.Join("; ", problems)
                + ". Give each host credentials of its own (docs/security.md), or set DOTNET_ENVIRONMENT=Development on a developer machine.");
        }
    }

    private static IEnumerable<string> Problems(IConfiguration configuration)
    {
        if (configuration[CrashPoint.Setting] is { Length: > 0 })
        {
            yield return $"{CrashPoint.Setting} is set: it is a crash test's fault hook that kills this process";
        }

        var broker = BusConfiguration.RabbitMqUri(configuration);
        var userInfo = broker.UserInfo.Split(':', 2).Select(Uri.UnescapeDataString).ToArray();
        if (userInfo[0] is "" or "guest" || userInfo is [_, "guest"])
        {
            yield return "ConnectionStrings__RabbitMq logs in as RabbitMQ's guest user";
        }

        foreach (var (name, connectionString) in new[]
        {
            ("ConnectionStrings__Postgres", RunSagaDatabase.ConnectionString(configuration)),
            ("ConnectionStrings__PostgresMigrations", configuration.GetConnectionString("PostgresMigrations")),
        })
        {
            if (connectionString is { Length: > 0 } && new NpgsqlConnectionStringBuilder(connectionString).Password == DevelopmentPostgresPassword)
            {
                yield return $"{name} uses the development password '{DevelopmentPostgresPassword}'";
            }
        }
    }
}
