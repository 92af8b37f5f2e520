using System.Text.Json;
using RabbitMQ.Client;

namespace RunSaga.IntegrationTests.Broker;

/// <summary>A notification as a downstream system received it: which exchange, the envelope's messageId, the message.</summary>
public sealed record ReceivedNotification(string MessageName, Guid? MessageId, JsonElement Message);

/// <summary>
/// A downstream system's subscription: a durable (quorum) queue of its own bound to the exchanges of some of RunSaga's
/// notifications, so what RunSaga publishes waits there through host crashes, closed connections and a broker restart.
/// Read with basic.get once the test is done (<see cref="DrainAsync"/>); deleted on dispose.
/// </summary>
public sealed class DurableSubscriber : IAsyncDisposable
{
    private readonly IConnection connection;
    private readonly string queue;

    private DurableSubscriber(IConnection connection, string queue)
    {
        this.connection = connection;
        this.queue = queue;
    }

    internal static async Task<DurableSubscriber> Create(IConnection connection, string queue, IEnumerable<string> messageNames)
    {
        await using var channel = await connection.CreateChannelAsync();
        // A quorum queue, as a downstream system on a RabbitMQ cluster needs: a classic queue lives on one node, and
        // what is routed to it while that node is down is lost (the fault campaign's seed 1201 lost four RunCompleted so).
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false,
            new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
        foreach (var name in messageNames)
        {
            var exchange = ScraperPublisher.ExchangeName(name);
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
            await channel.QueueBindAsync(queue, exchange, routingKey: string.Empty);
        }

        return new DurableSubscriber(connection, queue);
    }

    /// <summary>Takes everything in the queue; then waits <paramref name="quiet"/> for stragglers and takes those too.</summary>
    public async Task<List<ReceivedNotification>> DrainAsync(TimeSpan quiet)
    {
        var received = new List<ReceivedNotification>();
        await using var channel = await OpenChannelAsync();
        var lastNew = DateTime.UtcNow;
        while (DateTime.UtcNow - lastNew < quiet)
        {
            var delivery = await channel.BasicGetAsync(queue, autoAck: true);
            if (delivery is null)
            {
                await Task.Delay(200);
                continue;
            }

            lastNew = DateTime.UtcNow;
            using var envelope = JsonDocument.Parse(delivery.Body);
            var name = delivery.Exchange[(delivery.Exchange.LastIndexOf(':') + 1)..];
            received.Add(new ReceivedNotification(
                name,
                MessageWatcher.GuidOf(envelope.RootElement, "messageId"),
                envelope.RootElement.GetProperty("message").Clone()));
        }

        return received;
    }

    /// <summary>Best effort: the queue lives in the test's virtual host, which is deleted with the stack anyway.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await using var channel = await OpenChannelAsync();
            await channel.QueueDeleteAsync(queue);
        }
        catch (Exception)
        {
            // A broker restart left the connection recovering; never hide the test's own outcome behind cleanup.
        }
    }

    /// <summary>A channel, once the connection has recovered from a broker restart (up to 60 s).</summary>
    private async Task<IChannel> OpenChannelAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                return await connection.CreateChannelAsync();
            }
            catch (RabbitMQ.Client.Exceptions.AlreadyClosedException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(500);
            }
        }
    }
}
