using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace RunSaga.Shared.Hosting;

/// <summary>
/// A fault hook for crash tests, off unless <c>RUNSAGA_TEST_CRASH_AT</c> is set (and refused in Production by
/// <see cref="ProductionGuard"/>): <c>&lt;point&gt;@&lt;source&gt;</c> kills this process, as SIGKILL would, the first
/// time a run of that source reaches the named point. The points sit right after a commit and before whatever is
/// published about it, where a real crash loses the most:
/// <list type="bullet">
/// <item><c>saga-committed:&lt;State&gt;</c> (Orchestrator): a saga transaction that left the run in that state (Queued,
/// Completed, Failed, …) has committed.</item>
/// <item><c>promotion-committed</c> (Consumers): the promotion has committed; <c>ProjectsUpserted</c> is not published.</item>
/// <item><c>flush-committed</c> (Consumers): the flush request has committed; its verdict is not published.</item>
/// <item><c>retention-committed</c> (Consumers): a retention cycle's outcome, and the outbox rows announcing it, have
/// committed.</item>
/// </list>
/// </summary>
public sealed class CrashPoint
{
    public const string Setting = "RUNSAGA_TEST_CRASH_AT";

    private readonly string? point;
    private readonly string? source;

    public CrashPoint(IConfiguration? configuration = null)
    {
        if (configuration?[Setting] is { Length: > 0 } value)
        {
            var at = value.LastIndexOf('@');
            if (at <= 0 || at == value.Length - 1)
            {
                throw new InvalidOperationException($"{Setting} must be <point>@<source>, e.g. saga-committed:Completed@my-source; it is '{value}'.");
            }

            point = value[..at];
            source = value[(at + 1)..];
        }
    }

    /// <summary>Kills this process now if the hook names <paramref name="reached"/> for a run of <paramref name="runSource"/>.</summary>
    public void Reached(string reached, string? runSource)
    {
        if (point is null || !string.Equals(point, reached, StringComparison.Ordinal) || !string.Equals(source, runSource, StringComparison.Ordinal))
        {
            return;
        }

        Console.Error.WriteLine($"{Setting}: crash point {reached} reached for source {runSource}; killing this process");
        Console.Error.Flush();
        Process.GetCurrentProcess().Kill();
    }
}

public static class CrashPointRegistration
{
    public static IServiceCollection AddCrashPoint(this IServiceCollection services)
    {
        services.TryAddSingleton<CrashPoint>();
        return services;
    }
}
