using RabbitMQ.Client;
using RunSaga.Shared.Messaging;

namespace RunSaga.Orchestrator.Broker;

/// <summary>
/// Declares the queues the saga sends its commands to (<c>runsaga.flush</c>, <c>runsaga.promotion</c>,
/// <c>runsaga.lineage</c>) before the bus starts, with the type of RABBITMQ_QUEUE_TYPE and bound to the exchange of
/// the same name, exactly as the Consumers' endpoints declare them. The saga sends to that exchange
/// (<see cref="QueueNames.Address"/>): MassTransit declares a queue it sends to without a type, which RabbitMQ 3.10
/// refuses for a quorum queue. Declaring here keeps a command durable even before the Consumers first start.
/// </summary>
public sealed class CommandQueues(IConfiguration configuration, ILogger<CommandQueues> logger) : IHostedService
{
    public static readonly string[] Queues = [QueueNames.Flush, QueueNames.Promotion, QueueNames.Lineage];

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var queueType = BusConfiguration.QueueType(configuration);
        var deadline = DateTime.UtcNow + StartTimeout;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await DeclareAsync(queueType, cancellationToken);
                logger.LogInformation("Command queues declared ({QueueType}): {Queues}", queueType, string.Join(", ", Queues));
                return;
            }
            catch (RabbitMQ.Client.Exceptions.OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 406)
            {
                throw new InvalidOperationException(
                    $"RabbitMQ refused a command queue: {ex.ShutdownReason.ReplyText}. A queue of another type exists; "
                    + "drain and delete runsaga.* queues, or set RABBITMQ_QUEUE_TYPE to their type (see docs/operations.md).", ex);
            }
            catch (Exception ex) when (ex is not OperationCanceledException && DateTime.UtcNow < deadline)
            {
                logger.LogWarning("RabbitMQ is not reachable yet ({Error}); declaring the command queues again in 2 s (attempt {Attempt})", ex.Message, attempt);
                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task DeclareAsync(string queueType, CancellationToken cancellationToken)
    {
        await using var connection = await BusConfiguration.ConnectAsync(configuration, "runsaga-orchestrator-topology", cancellationToken);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        var arguments = queueType == "quorum" ? new Dictionary<string, object?> { ["x-queue-type"] = "quorum" } : null;
        foreach (var queue in Queues)
        {
            await channel.ExchangeDeclareAsync(queue, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments, cancellationToken: cancellationToken);
            await channel.QueueBindAsync(queue, queue, routingKey: string.Empty, cancellationToken: cancellationToken);
        }
    }
}
