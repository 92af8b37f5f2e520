using Microsoft.Extensions.Configuration;
using RabbitMQ.Client.Exceptions;

namespace RunSaga.Shared.Messaging;

/// <summary>
/// Asks RabbitMQ about a queue (a passive declare) on a connection of its own (<see cref="OwnBrokerConnection"/>). Used by
/// the hosts' watchers, never for messages.
/// </summary>
public sealed class QueueProbe(IConfiguration configuration, string connectionName) : IAsyncDisposable
{
    private readonly OwnBrokerConnection broker = new(configuration, connectionName);

    /// <summary>The queue's ready messages and consumers, or null when it does not exist. Throws when RabbitMQ cannot be asked.</summary>
    public Task<(uint Messages, uint Consumers)?> ReadAsync(string queue, CancellationToken cancellationToken) =>
        broker.UseAsync<(uint, uint)?>(async connection =>
        {
            // A passive declare of a missing queue closes only its channel; the connection stays.
            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            try
            {
                var declared = await channel.QueueDeclarePassiveAsync(queue, cancellationToken);
                return (declared.MessageCount, declared.ConsumerCount);
            }
            catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
            {
                return null;
            }
        }, cancellationToken);

    public ValueTask DisposeAsync() => broker.DisposeAsync();
}
