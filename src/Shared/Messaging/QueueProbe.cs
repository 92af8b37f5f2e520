using Microsoft.Extensions.Configuration;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace RunSaga.Shared.Messaging;

/// <summary>
/// Asks RabbitMQ about a queue (a passive declare) on a connection of its own, opened on first use and dropped after a
/// failure, so the next call reconnects. Used by the hosts' watchers, never for messages.
/// </summary>
public sealed class QueueProbe(IConfiguration configuration, string connectionName) : IAsyncDisposable
{
    private readonly SemaphoreSlim gate = new(1, 1);
    private IConnection? connection;

    /// <summary>The queue's ready messages and consumers, or null when it does not exist. Throws when RabbitMQ cannot be asked.</summary>
    public async Task<(uint Messages, uint Consumers)?> ReadAsync(string queue, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            connection ??= await BusConfiguration.ConnectAsync(configuration, connectionName, cancellationToken);
            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            var declared = await channel.QueueDeclarePassiveAsync(queue, cancellationToken);
            return (declared.MessageCount, declared.ConsumerCount);
        }
        catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
        {
            return null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await DropConnectionAsync();
            throw;
        }
        finally
        {
            gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await DropConnectionAsync();
        gate.Dispose();
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
