using System.Collections.Concurrent;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace RunSaga.IntegrationTests.Broker;

/// <summary>
/// What RunSaga publishes on one message type's exchange, seen through a temporary exclusive queue: the
/// <c>message</c> part of each envelope, and the envelope's <c>messageId</c> (<see cref="MessageIds"/>).
/// </summary>
public sealed class MessageWatcher : IAsyncDisposable
{
    private readonly IChannel channel;
    private readonly ConcurrentQueue<JsonElement> received = new();
    private readonly ConcurrentQueue<(Guid? MessageId, JsonElement Message)> envelopes = new();

    private MessageWatcher(IChannel channel, string exchange)
    {
        this.channel = channel;
        Exchange = exchange;
    }

    public string Exchange { get; }

    public IReadOnlyList<JsonElement> Received => [.. received];

    /// <summary>The envelope's messageId of each received message that matches, in order of arrival.</summary>
    public IReadOnlyList<Guid?> MessageIds(Func<JsonElement, bool> match) =>
        [.. envelopes.Where(e => match(e.Message)).Select(e => e.MessageId)];

    internal static async Task<MessageWatcher> Start(IChannel channel, string exchange)
    {
        var watcher = new MessageWatcher(channel, exchange);
        var queue = await channel.QueueDeclareAsync(queue: string.Empty, durable: false, exclusive: true, autoDelete: true);
        await channel.QueueBindAsync(queue.QueueName, exchange, routingKey: string.Empty);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            // The body's buffer is reused after this handler returns: parse it now.
            using var envelope = JsonDocument.Parse(delivery.Body);
            if (envelope.RootElement.TryGetProperty("message", out var message))
            {
                var copy = message.Clone();
                watcher.envelopes.Enqueue((GuidOf(envelope.RootElement, "messageId"), copy));
                watcher.received.Enqueue(copy);
            }

            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(queue.QueueName, autoAck: true, consumer);
        return watcher;
    }

    /// <summary>Waits until at least <paramref name="count"/> received messages match; returns all that match.</summary>
    public async Task<IReadOnlyList<JsonElement>> WaitFor(Func<JsonElement, bool> match, int count, TimeSpan timeout, string description)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var matches = received.Where(match).ToList();
            if (matches.Count >= count)
            {
                return matches;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Saw {matches.Count} of {count} {description} on {Exchange} within {timeout}. "
                    + $"All received: {string.Join(" | ", received.Select(m => m.GetRawText()))}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>A uuid field of a received message; null when it is absent or null.</summary>
    public static Guid? GuidOf(JsonElement message, string field) =>
        message.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.String ? value.GetGuid() : null;

    public async ValueTask DisposeAsync()
    {
        await channel.CloseAsync();
        await channel.DisposeAsync();
    }
}
