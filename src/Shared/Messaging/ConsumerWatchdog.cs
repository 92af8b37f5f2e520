using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RunSaga.Shared.Hosting;

namespace RunSaga.Shared.Messaging;

/// <summary>
/// Watches that this host consumes every queue it should. MassTransit reconnects by itself after a connection
/// loss, but the fault campaign caught it (seed 99, three times) leaving every endpoint of the Consumers without a
/// consumer after the broker closed its connection under load: an endpoint restarts only once its messages in flight
/// finish, and one of them waited on that very connection. Restarting the bus in the process does not help (MassTransit
/// reports its host "already started" and the endpoints stay down). So when one of this host's queues has gone unserved
/// for CONSUMER_WATCHDOG_AFTER while RabbitMQ answers, the watchdog stops the process with exit code
/// <see cref="RestartExitCode"/>, for its supervisor to start a fresh one; the unacknowledged messages go back to
/// their queues and are redone (every step is idempotent).
/// <para>
/// With several instances of a host, the queue's consumer count is kept above zero by the healthy ones, so it cannot
/// say whether this instance is stuck. A queue counts as unserved when this process's own receive endpoint for it is
/// not healthy (MassTransit's <see cref="IBusControl.CheckHealth"/>), or when RabbitMQ counts no consumer on it at all.
/// </para>
/// </summary>
public sealed class ConsumerWatchdog(
    IConfiguration configuration,
    IOptions<RunSagaOptions> options,
    IHostApplicationLifetime lifetime,
    IBusControl bus,
    ILogger<ConsumerWatchdog> logger,
    IReadOnlyList<string> queues) : BackgroundService
{
    /// <summary>EX_TEMPFAIL: "start me again". scripts/up, the test stack and docker-compose restart a host that exits with it.</summary>
    public const int RestartExitCode = 75;

    /// <summary>How long a stop the watchdog asked for may take before the process exits regardless.</summary>
    public static readonly TimeSpan ExitGrace = TimeSpan.FromSeconds(45);

    private readonly Dictionary<string, DateTimeOffset> unconsumedSince = new(StringComparer.Ordinal);
    private Timer? exitTimer;
    private readonly QueueProbe probe = new(configuration, "runsaga-consumer-watchdog");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var after = options.Value.ConsumerWatchdogAfter;
        using var timer = new PeriodicTimer(after / 6);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var now = DateTimeOffset.UtcNow;
            IReadOnlyList<string> unconsumed;
            try
            {
                unconsumed = await UnconsumedQueuesAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The broker is away: reconnecting is MassTransit's job, and nothing can be judged now.
                unconsumedSince.Clear();
                continue;
            }

            foreach (var queue in queues)
            {
                if (!unconsumed.Contains(queue))
                {
                    unconsumedSince.Remove(queue);
                }
                else if (unconsumedSince.TryAdd(queue, now))
                {
                    logger.LogWarning("{Queue} is not consumed by this process; it restarts if that lasts {After}", queue, after);
                }
            }

            var stuck = unconsumedSince.Where(q => now - q.Value >= after).Select(q => q.Key).Order(StringComparer.Ordinal).ToList();
            if (stuck.Count > 0)
            {
                logger.LogCritical(
                    "{Queues} have not been consumed by this process for {After} although RabbitMQ answers: MassTransit did not resume "
                    + "consuming after a connection loss. Stopping with exit code {ExitCode} so that the supervisor starts a fresh process; "
                    + "unacknowledged messages are delivered again",
                    string.Join(", ", stuck), after, RestartExitCode);
                Environment.ExitCode = RestartExitCode;
                // A graceful stop can hang on the very connection that failed (seed 31337: the Orchestrator's bus
                // stopped, the process did not end); the exit comes anyway once ExitGrace has passed.
                lifetime.ApplicationStopping.Register(() =>
                    exitTimer = new Timer(_ => Environment.Exit(RestartExitCode), null, ExitGrace, Timeout.InfiniteTimeSpan));
                lifetime.StopApplication();
                return;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await probe.DisposeAsync();
    }

    /// <summary>The queues this process does not consume now. Throws when RabbitMQ cannot be asked (nothing can be judged then).</summary>
    private async Task<IReadOnlyList<string>> UnconsumedQueuesAsync(CancellationToken cancellationToken)
    {
        var healthy = bus.CheckHealth().Endpoints.Values
            .Where(endpoint => endpoint.Status == BusHealthStatus.Healthy)
            .Select(endpoint => QueueOf(endpoint.InputAddress))
            .ToHashSet(StringComparer.Ordinal);
        var unconsumed = new List<string>();
        foreach (var queue in queues)
        {
            // Asked for every queue even when this process's endpoint is down: the question is also whether RabbitMQ answers.
            if (await probe.ReadAsync(queue, cancellationToken) is not (_, > 0) || !healthy.Contains(queue))
            {
                unconsumed.Add(queue);
            }
        }

        return unconsumed;
    }

    /// <summary>The queue of a receive endpoint's input address (<c>rabbitmq://host/vhost/queue?…</c>).</summary>
    private static string QueueOf(Uri inputAddress) => Uri.UnescapeDataString(inputAddress.AbsolutePath.Split('/')[^1]);
}

public static class ConsumerWatchdogRegistration
{
    /// <summary>Watches <paramref name="queues"/> (the queues this host consumes); see <see cref="ConsumerWatchdog"/>.</summary>
    public static IServiceCollection AddConsumerWatchdog(this IServiceCollection services, params string[] queues) =>
        services.AddHostedService(provider => ActivatorUtilities.CreateInstance<ConsumerWatchdog>(provider, (IReadOnlyList<string>)queues));
}
