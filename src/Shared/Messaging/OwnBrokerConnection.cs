using Microsoft.Extensions.Configuration;
using RabbitMQ.Client;

namespace RunSaga.Shared.Messaging;

/// <summary>
/// A host's own AMQP connection, beside MassTransit's, for the few things MassTransit does not do (asking about a queue,
/// reading or moving dead letters). Opened on first use, used by one caller at a time, and dropped after a failure so the
/// next use reconnects.
/// </summary>
public sealed class OwnBrokerConnection(IConfiguration configuration, string connectionName) : IAsyncDisposable
{
    private readonly SemaphoreSlim gate = new(1, 1);
    private IConnection? connection;

    /// <summary>Runs <paramref name="use"/> on the connection; an exception other than cancellation drops the connection.</summary>
    public async Task<T> UseAsync<T>(Func<IConnection, Task<T>> use, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            connection ??= await BusConfiguration.ConnectAsync(configuration, connectionName, cancellationToken);
            return await use(connection);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await DropAsync();
            throw;
        }
        finally
        {
            gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await DropAsync();
        gate.Dispose();
    }

    private async Task DropAsync()
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
