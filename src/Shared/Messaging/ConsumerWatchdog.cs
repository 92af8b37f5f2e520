using MassTransit;
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
/// loss, but the fault campaign caught it (twice, seed 99) leaving four of the Consumers' endpoints without a consumer
/// after the broker closed its connection under load: the runs then waited in Flushed for ever. When a queue has had no
/// consumer for CONSUMER_WATCHDOG_AFTER while RabbitMQ answers, the watchdog restarts the bus; when that does not help
/// twice in ten minutes, it stops the process (exit code 1) for its supervisor to start again.
/// </summary>
public sealed class ConsumerWatchdog(
    IBusControl bus,
    IConfiguration configuration,
    IOptions<RunSagaOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<ConsumerWatchdog> logger,
    IReadOnlyList<string> queues) : BackgroundService
{
    private readonly Dictionary<string, DateTimeOffset> unconsumedSince = new(StringComparer.Ordinal);
    private readonly List<DateTimeOffset> restarts = [];
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
                    logger.LogWarning("{Queue} has no consumer; the bus restarts if it still has none in {After}", queue, after);
                }
            }

            var stuck = unconsumedSince.Where(q => now - q.Value >= after).Select(q => q.Key).Order(StringComparer.Ordinal).ToList();
            if (stuck.Count == 0)
            {
                continue;
            }

            restarts.RemoveAll(at => now - at > TimeSpan.FromMinutes(10));
            if (restarts.Count >= 2)
            {
                logger.LogCritical(
                    "{Queues} still have no consumer after {Restarts} bus restarts in ten minutes; stopping the process (exit code 1) so that its supervisor starts it again",
                    string.Join(", ", stuck), restarts.Count);
                Environment.ExitCode = 1;
                lifetime.StopApplication();
                return;
            }

            logger.LogError(
                "{Queues} have had no consumer for {After} although RabbitMQ answers: MassTransit did not resume consuming after a connection loss. Restarting the bus",
                string.Join(", ", stuck), after);
            restarts.Add(now);
            unconsumedSince.Clear();
            await RestartBusAsync(stoppingToken);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await DropConnectionAsync();
    }

    private async Task RestartBusAsync(CancellationToken stoppingToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await bus.StopAsync(timeout.Token);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            logger.LogWarning(ex, "The bus did not stop cleanly; starting it again anyway");
        }

        await bus.StartAsync(stoppingToken);
        logger.LogInformation("Bus restarted by the consumer watchdog");
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
