using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using RunSaga.Shared.Hosting;

namespace RunSaga.Shared.Messaging;

/// <summary>
/// Watches that every queue this host consumes has a consumer. MassTransit reconnects by itself after a connection
/// loss, but the fault campaign caught it (seed 99, three times) leaving every endpoint of the Consumers without a
/// consumer after the broker closed its connection under load: an endpoint restarts only once its messages in flight
/// finish, and one of them waited on that very connection. Restarting the bus in the process does not help (MassTransit
/// reports its host "already started" and the endpoints stay down). So when a queue has had no consumer for
/// CONSUMER_WATCHDOG_AFTER while RabbitMQ answers, the watchdog stops the process with exit code
/// <see cref="RestartExitCode"/>, for its supervisor to start a fresh one; the unacknowledged messages go back to
/// their queues and are redone (every step is idempotent).
/// </summary>
public sealed class ConsumerWatchdog(
    IConfiguration configuration,
    IOptions<RunSagaOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<ConsumerWatchdog> logger,
    IReadOnlyList<string> queues) : BackgroundService
{
    /// <summary>EX_TEMPFAIL: "start me again". scripts/up, the test stack and docker-compose restart a host that exits with it.</summary>
    public const int RestartExitCode = 75;

    private readonly Dictionary<string, DateTimeOffset> unconsumedSince = new(StringComparer.Ordinal);
    private IConnection? connection;

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
                await DropConnectionAsync();
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
                    logger.LogWarning("{Queue} has no consumer; the host restarts if it still has none in {After}", queue, after);
                }
            }

            var stuck = unconsumedSince.Where(q => now - q.Value >= after).Select(q => q.Key).Order(StringComparer.Ordinal).ToList();
            if (stuck.Count > 0)
            {
                logger.LogCritical(
                    "{Queues} have had no consumer for {After} although RabbitMQ answers: MassTransit did not resume consuming after a "
                    + "connection loss. Stopping with exit code {ExitCode} so that the supervisor starts a fresh process; "
                    + "unacknowledged messages are delivered again",
                    string.Join(", ", stuck), after, RestartExitCode);
                Environment.ExitCode = RestartExitCode;
                lifetime.StopApplication();
                return;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await DropConnectionAsync();
    }

    private async Task<IReadOnlyList<string>> UnconsumedQueuesAsync(CancellationToken cancellationToken)
    {
        connection ??= await new ConnectionFactory
        {
            Uri = BusConfiguration.RabbitMqUri(configuration),
            AutomaticRecoveryEnabled = false,
            ClientProvidedName = "runsaga-consumer-watchdog",
            RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
        }.CreateConnectionAsync(cancellationToken);
        var unconsumed = new List<string>();
        foreach (var queue in queues)
        {
            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            try
            {
                if ((await channel.QueueDeclarePassiveAsync(queue, cancellationToken)).ConsumerCount == 0)
                {
                    unconsumed.Add(queue);
                }
            }
            catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
            {
                unconsumed.Add(queue);
            }
        }

        return unconsumed;
    }

    private async Task DropConnectionAsync()
    {
        if (connection is { } open)
        {
            connection = null;
            try
            {
                await open.DisposeAsync();
            }
            catch (Exception)
            {
                // A broken connection may throw on close; it is gone either way.
            }
        }
    }
}

public static class ConsumerWatchdogRegistration
{
    /// <summary>Watches <paramref name="queues"/> (the queues this host consumes); see <see cref="ConsumerWatchdog"/>.</summary>
    public static IServiceCollection AddConsumerWatchdog(this IServiceCollection services, params string[] queues) =>
        services.AddHostedService(provider => ActivatorUtilities.CreateInstance<ConsumerWatchdog>(provider, (IReadOnlyList<string>)queues));
}
