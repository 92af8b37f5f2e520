using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using RabbitMQ.Client;

namespace RunSaga.IntegrationTests.Broker;

/// <summary>
/// A RunSaga message on its way out: the contract's name (<c>ItemsScraped</c>) and its camelCase body; with
/// <paramref name="SentTime"/>, the envelope says when it was sent (MassTransit's <c>sentTime</c>).
/// </summary>
public sealed record OutgoingMessage(string Name, object Body, Guid? CorrelationId = null, DateTime? SentTime = null);

/// <summary>
/// Publishes exactly what a scraper in another language publishes (docs/wire-format.md), with RabbitMQ.Client and
/// hand-built JSON, never through a .NET bus: the exchange <c>RunSaga.Contracts:&lt;Name&gt;</c> declared as
/// MassTransit declares it (fanout, durable, not auto-delete), MassTransit's JSON envelope, persistent messages,
/// publisher confirms. Every publish is <c>mandatory</c>, so a message no queue receives fails the test at once
/// instead of vanishing.
/// </summary>
public sealed class ScraperPublisher : IAsyncDisposable
{
    public const string EnvelopeContentType = "application/vnd.masstransit+json";
    public const string PlainJsonContentType = "application/json";
    public const string MessageTypeHeader = "MT-MessageType";

    /// <summary>camelCase, nulls left out: how the example scrapers write their messages (and as deep as they like).</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        MaxDepth = 1000,
    };

    /// <summary>The name every test connection gives the broker; fault tests close every connection but these.</summary>
    public const string ConnectionName = "runsaga-integration-tests";

    private readonly IConnection connection;
    private readonly IChannel channel;
    private readonly IConnection observer;
    private readonly Uri observeAs;
    private readonly string? userId;
    private readonly ConcurrentDictionary<string, Task> declared = new(StringComparer.Ordinal);

    private readonly IReadOnlyList<string>? nodes;

    private ScraperPublisher(IConnection connection, IChannel channel, IConnection observer, Uri observeAs, string? userId, IReadOnlyList<string>? nodes)
    {
        this.nodes = nodes;
        this.observeAs = observeAs;
        this.connection = connection;
        this.channel = channel;
        this.observer = observer;
        this.userId = userId;
    }

    /// <summary>
    /// Publishes as the user of <paramref name="publishAs"/>; watches exchanges and counts queues through
    /// <paramref name="observeAs"/> (a scraper may not read anything). With <paramref name="stampUserId"/> every message
    /// carries the AMQP user_id of its publisher, as RunSaga's hosts send theirs.
    /// </summary>
    /// <param name="nodes">The nodes of a cluster (host:port): the connections go to any of them and recover to another.</param>
    public static async Task<ScraperPublisher> Connect(Uri publishAs, Uri observeAs, bool stampUserId = false, IReadOnlyList<string>? nodes = null)
    {
        var connection = await ConnectAsync(publishAs, nodes);
        var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var observer = await ConnectAsync(observeAs, nodes);
        var user = Uri.UnescapeDataString(publishAs.UserInfo.Split(':', 2)[0]);
        return new ScraperPublisher(connection, channel, observer, observeAs, stampUserId ? user : null, nodes);
    }

    /// <summary>A connection as <paramref name="uri"/>'s user, to one of <paramref name="nodes"/> when given.</summary>
    public static Task<IConnection> ConnectAsync(Uri uri, IReadOnlyList<string>? nodes)
    {
        var factory = new ConnectionFactory { Uri = uri, ClientProvidedName = ConnectionName };
        return nodes is { Count: > 0 }
            ? factory.CreateConnectionAsync([.. nodes.Select(AmqpTcpEndpoint.Parse)])
            : factory.CreateConnectionAsync();
    }

    public static string ExchangeName(string messageName) => $"RunSaga.Contracts:{messageName}";

    /// <summary>
    /// The messages ready in <paramref name="queue"/> as the broker counts them now (a passive declare; the management
    /// API's figures can lag by seconds), or null when the queue does not exist. On a connection of its own: the
    /// observer's may still be recovering from a broker restart.
    /// </summary>
    public async Task<uint?> ReadyCount(string queue)
    {
        await using var connection = await ConnectAsync(observeAs, nodes);
        await using var probe = await connection.CreateChannelAsync();
        try
        {
            return (await probe.QueueDeclarePassiveAsync(queue)).MessageCount;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
        {
            return null;
        }
    }

    public static string MessageUrn(string messageName) => $"urn:message:RunSaga.Contracts:{messageName}";

    /// <summary>The envelope form: <c>{messageId, correlationId, messageType: [urn], message}</c>.</summary>
    public Task Publish(OutgoingMessage message)
    {
        var messageId = Guid.NewGuid();
        var envelope = new
        {
            messageId,
            correlationId = message.CorrelationId,
            sentTime = message.SentTime,
            messageType = new[] { MessageUrn(message.Name) },
            message = message.Body,
        };
        return PublishRaw(message.Name, JsonSerializer.SerializeToUtf8Bytes(envelope, Json), EnvelopeContentType, messageId: messageId);
    }

    public async Task Publish(IEnumerable<OutgoingMessage> messages)
    {
        foreach (var message in messages)
        {
            await Publish(message);
        }
    }

    /// <summary>All at once: the broker has them all before the hosts can have handled the first.</summary>
    public Task PublishConcurrently(IEnumerable<OutgoingMessage> messages) => Task.WhenAll(messages.Select(Publish));

    /// <summary>
    /// The plain-JSON form: the body is the message itself, <c>application/json</c>; the type travels in the
    /// <c>MT-MessageType</c> header unless <paramref name="withMessageType"/> is false (which RunSaga refuses).
    /// </summary>
    public Task PublishPlainJson(OutgoingMessage message, bool withMessageType = true)
    {
        var headers = withMessageType
            ? new Dictionary<string, object?> { [MessageTypeHeader] = Encoding.UTF8.GetBytes(MessageUrn(message.Name)) }
            : null;
        return PublishRaw(message.Name, JsonSerializer.SerializeToUtf8Bytes(message.Body, Json), PlainJsonContentType, headers);
    }

    /// <summary>Any bytes, to the exchange of <paramref name="messageName"/>: for bad-input tests.</summary>
    public async Task PublishRaw(
        string messageName,
        ReadOnlyMemory<byte> body,
        string? contentType,
        IDictionary<string, object?>? headers = null,
        Guid? messageId = null)
    {
        var exchange = ExchangeName(messageName);
        await Declare(exchange);
        var properties = new BasicProperties
        {
            ContentType = contentType,
            DeliveryMode = DeliveryModes.Persistent,
            MessageId = (messageId ?? Guid.NewGuid()).ToString(),
            Headers = headers,
            UserId = userId,
        };
        // With confirmation tracking this returns once the broker has confirmed the message (and throws on a nack
        // or, with mandatory, when no queue is bound to the exchange).
        await channel.BasicPublishAsync(exchange, routingKey: string.Empty, mandatory: true, properties, body);
    }

    /// <summary>Subscribes a temporary queue to the exchange of <paramref name="messageName"/> (e.g. <c>RunAccepted</c>).</summary>
    public async Task<MessageWatcher> Watch(string messageName)
    {
        var watchChannel = await observer.CreateChannelAsync();
        var exchange = ExchangeName(messageName);
        await watchChannel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
        return await MessageWatcher.Start(watchChannel, exchange);
    }

    /// <summary>A durable queue of the test's own, bound to the exchanges of <paramref name="messageNames"/>: a downstream subscriber.</summary>
    public Task<DurableSubscriber> Subscribe(string queue, params string[] messageNames) =>
        DurableSubscriber.Create(observer, queue, messageNames);

    public async ValueTask DisposeAsync()
    {
        await channel.CloseAsync();
        await channel.DisposeAsync();
        await connection.CloseAsync();
        await connection.DisposeAsync();
        await observer.CloseAsync();
        await observer.DisposeAsync();
    }

    /// <summary>
    /// A publish to an exchange that does not exist is dropped by the broker (it closes the channel), so a
    /// publisher declares the exchange first, with MassTransit's flags: fanout, durable, not auto-delete.
    /// </summary>
    private Task Declare(string exchange) =>
        declared.GetOrAdd(exchange, name => channel.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: true, autoDelete: false));
}
