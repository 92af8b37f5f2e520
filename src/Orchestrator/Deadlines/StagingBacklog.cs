using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using RunSaga.Shared.Messaging;

namespace RunSaga.Orchestrator.Deadlines;

/// <summary>
/// Asks RabbitMQ how far behind staging is: the batches waiting in <c>runsaga.staging</c> and the Consumers reading
/// it (a passive queue declare on a connection of its own). The deadline watcher uses the answer so that an outage
/// of the Consumers, the broker or the database is not mistaken for a scraper that never published its batches.
/// </summary>
public sealed class StagingBacklog(IConfiguration configuration) : IAsyncDisposable
{
    private readonly SemaphoreSlim gate = new(1, 1);
    private IConnection? connection;

    /// <summary>Why staging is behind right now, or null when it has caught up (nothing waiting, a consumer reading).</summary>
    public async Task<string?> BehindAsync(CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            connection ??= await new ConnectionFactory
            {
                Uri = BusConfiguration.RabbitMqUri(configuration),
                AutomaticRecoveryEnabled = false,
                ClientProvidedName = "runsaga-orchestrator-deadlines",
                RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
            }.CreateConnectionAsync(cancellationToken);
            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            var queue = await channel.QueueDeclarePassiveAsync(QueueNames.Staging, cancellationToken);
            return (queue.MessageCount, queue.ConsumerCount) switch
            {
                (_, 0) => $"{QueueNames.Staging} has no consumer (are the Consumers running?)",
                ( > 0, _) => $"{QueueNames.Staging} holds {queue.MessageCount} batches not yet staged",
                _ => null,
            };
        }
        catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
        {
            return $"{QueueNames.Staging} does not exist yet (the Consumers have never started on this broker)";
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await DropConnectionAsync();
            return $"RabbitMQ could not be asked about {QueueNames.Staging} ({ex.GetType().Name}: {ex.Message})";
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
