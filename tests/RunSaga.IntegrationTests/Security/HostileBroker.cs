using System.Text;
using System.Text.Json;
using RabbitMQ.Client;
using RunSaga.IntegrationTests.Broker;

namespace RunSaga.IntegrationTests.Security;

/// <summary>What the broker did with one attempt: accepted it, or closed the channel with an AMQP reply code.</summary>
public sealed record BrokerVerdict(bool Accepted, int ReplyCode, string ReplyText)
{
    public const int AccessRefused = 403;
    public const int PreconditionFailed = 406;

    public override string ToString() => Accepted ? "accepted" : $"{ReplyCode} {ReplyText}";
}

/// <summary>
/// A hostile program on the broker, with RabbitMQ.Client and nothing of RunSaga's: every attempt on a fresh connection
/// and channel (a refusal closes the channel), with publisher confirms, so a publish counts as accepted only once the
/// broker has confirmed it.
/// </summary>
public sealed class HostileBroker(Uri amqp)
{
    /// <summary>Publishes a MassTransit envelope of <paramref name="messageName"/> with <paramref name="body"/>.</summary>
    public Task<BrokerVerdict> Publish(
        string exchange, string messageName, object body, bool declare, string routingKey = "", string? userId = null) =>
        Attempt(async channel =>
        {
            if (declare)
            {
                await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
            }

            var envelope = new
            {
                messageId = Guid.NewGuid(),
                messageType = new[] { ScraperPublisher.MessageUrn(messageName) },
                message = body,
            };
            var properties = new BasicProperties
            {
                ContentType = ScraperPublisher.EnvelopeContentType,
                DeliveryMode = DeliveryModes.Persistent,
                UserId = userId,
            };
            await channel.BasicPublishAsync(exchange, routingKey, mandatory: false, properties,
                JsonSerializer.SerializeToUtf8Bytes(envelope, ScraperPublisher.Json));
        });

    /// <summary>Any other operation on a channel (read a queue, declare, bind, delete, purge).</summary>
    public async Task<BrokerVerdict> Attempt(Func<IChannel, Task> operation)
    {
        await using var connection = await new ConnectionFactory { Uri = amqp, ClientProvidedName = ScraperPublisher.ConnectionName }
            .CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        try
        {
            await operation(channel);

            // A refused basic.publish closes the channel asynchronously: one more round trip to see it.
            await channel.ExchangeDeclarePassiveAsync("amq.fanout");
            return new BrokerVerdict(true, 0, "accepted");
        }
        catch (Exception ex)
        {
            var reason = channel.CloseReason ?? connection.CloseReason;
            return reason is null
                ? throw new InvalidOperationException($"The attempt failed without the broker closing the channel: {ex.Message}", ex)
                : new BrokerVerdict(false, reason.ReplyCode, reason.ReplyText);
        }
    }

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
