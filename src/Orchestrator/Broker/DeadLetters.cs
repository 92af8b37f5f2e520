using System.Text;
using System.Text.Json;
using Npgsql;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using RunSaga.Shared.Messaging;

namespace RunSaga.Orchestrator.Broker;

/// <summary>
/// RunSaga's dead letters: the <c>_error</c> queues (messages a consumer could not read or handle, with MassTransit's
/// <c>MT-Fault-*</c> headers) and the <c>_skipped</c> queues (messages of a type no consumer knows) of its endpoints.
/// <para>
/// Messages are read without taking them: <c>basic.get</c> without acknowledging, then the channel is closed, which gives
/// every message back to its queue at the head, in its order (RabbitMQ 3.10; a quorum queue counts the delivery in
/// <c>x-delivery-count</c>, and RunSaga sets no delivery limit that could drop it). While one reader holds a queue's
/// messages another would see it short, so every Orchestrator reads a queue under one PostgreSQL advisory lock.
/// </para>
/// </summary>
public sealed class DeadLetters(IConfiguration configuration, NpgsqlDataSource dataSource) : IAsyncDisposable
{
    /// <summary>The most messages one read returns.</summary>
    public const int MaxMessages = 500;

    /// <summary>How much of a body a view carries (characters); bodies may be up to the broker's 16 MiB.</summary>
    private const int BodyExcerpt = 2000;

    private static readonly string[] Endpoints =
        [QueueNames.Runs, QueueNames.Staging, QueueNames.Flush, QueueNames.Promotion, QueueNames.Lineage, QueueNames.Retention, QueueNames.Metrics];

    private readonly SemaphoreSlim gate = new(1, 1);
    private IConnection? connection;

    /// <summary>Every dead-letter queue RunSaga may have, whether or not it exists yet.</summary>
    public static IReadOnlyList<string> Queues { get; } = [.. Endpoints.SelectMany(e => new[] { $"{e}_error", $"{e}_skipped" })];

    /// <summary>The dead-letter queues that exist, with the messages each holds.</summary>
    public async Task<IReadOnlyList<DeadLetterQueue>> CountAsync(CancellationToken cancellationToken) =>
        await WithConnectionAsync(async connection =>
        {
            var queues = new List<DeadLetterQueue>();
            foreach (var queue in Queues)
            {
                // A passive declare of a missing queue closes its channel: one channel per queue.
                await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
                if (await CountAsync(channel, queue, cancellationToken) is { } messages)
                {
                    queues.Add(new DeadLetterQueue(queue, queue.EndsWith("_error", StringComparison.Ordinal) ? "error" : "skipped", messages));
                }
            }

            return (IReadOnlyList<DeadLetterQueue>)queues;
        }, cancellationToken);

    /// <summary>Up to <paramref name="limit"/> messages from the head of <paramref name="queue"/>, left where they are; null when the queue does not exist.</summary>
    public async Task<IReadOnlyList<DeadLetter>?> PeekAsync(string queue, int limit, CancellationToken cancellationToken)
    {
        if (!Queues.Contains(queue))
        {
            throw new ArgumentException($"{queue} is not one of RunSaga's dead-letter queues", nameof(queue));
        }

        // One reader per queue across every Orchestrator: the lock lives as long as this transaction.
        await using var db = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await db.BeginTransactionAsync(cancellationToken);
        await using (var lockQueue = new NpgsqlCommand("SET LOCAL lock_timeout = '10s'; SELECT pg_advisory_xact_lock(hashtextextended(@queue, 7006))", db, transaction))
        {
            lockQueue.Parameters.AddWithValue("queue", queue);
            await lockQueue.ExecuteNonQueryAsync(cancellationToken);
        }

        return await WithConnectionAsync(async connection =>
        {
            // Closing the channel at the end gives back every message read here, unacknowledged.
            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            if (await CountAsync(channel, queue, cancellationToken) is null)
            {
                return null;
            }

            var letters = new List<DeadLetter>();
            while (letters.Count < limit && await channel.BasicGetAsync(queue, autoAck: false, cancellationToken) is { } message)
            {
                letters.Add(Describe(message));
            }

            return (IReadOnlyList<DeadLetter>)letters;
        }, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await DropConnectionAsync();
        gate.Dispose();
    }

    private static async Task<uint?> CountAsync(IChannel channel, string queue, CancellationToken cancellationToken)
    {
        try
        {
            return (await channel.QueueDeclarePassiveAsync(queue, cancellationToken)).MessageCount;
        }
        catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
        {
            return null;
        }
    }

    /// <summary>Runs <paramref name="use"/> on this Orchestrator's dead-letter connection, opened on first use and dropped after a failure.</summary>
    private async Task<T> WithConnectionAsync<T>(Func<IConnection, Task<T>> use, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            connection ??= await BusConfiguration.ConnectAsync(configuration, "runsaga-orchestrator-dead-letters", cancellationToken);
            return await use(connection);
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

    private static DeadLetter Describe(BasicGetResult message)
    {
        var properties = message.BasicProperties;
        var headers = properties.Headers ?? new Dictionary<string, object?>();
        string? Header(string name) => headers.TryGetValue(name, out var value) ? value switch
        {
            byte[] bytes => Encoding.UTF8.GetString(bytes),
            null => null,
            _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture),
        } : null;

        var body = message.Body.Span;
        var (messageType, runId) = ReadEnvelope(body);
        var reason = Header("MT-Reason");
        return new DeadLetter(
            properties.MessageId,
            messageType ?? properties.Type,
            runId,
            reason,
            Header("MT-Fault-Message") ?? (reason == "dead-letter" ? "no consumer for this message type (skipped)" : null),
            Header("MT-Fault-ExceptionType"),
            DateTimeOffset.TryParse(Header("MT-Fault-Timestamp"), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind, out var at) ? at : null,
            Header("MT-Fault-InputAddress"),
            Header("MT-Fault-ConsumerType"),
            long.TryParse(Header("x-delivery-count"), out var deliveries) ? deliveries : 0,
            body.Length,
            Encoding.UTF8.GetString(body[..Math.Min(body.Length, BodyExcerpt * 4)]) is var text && text.Length > BodyExcerpt ? text[..BodyExcerpt] : text);
    }

    /// <summary>The contract's name and <c>message.runId</c> from MassTransit's JSON envelope, when the body is one.</summary>
    private static (string? MessageType, Guid? RunId) ReadEnvelope(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 256 });
            using var envelope = JsonDocument.ParseValue(ref reader);
            var root = envelope.RootElement;
            string? type = null;
            if (root.TryGetProperty("messageType", out var types) && types.ValueKind == JsonValueKind.Array && types.GetArrayLength() > 0
                && types[0].GetString() is { } urn)
            {
                type = urn[(urn.LastIndexOf(':') + 1)..];
            }

            Guid? runId = root.TryGetProperty("message", out var inner) && inner.ValueKind == JsonValueKind.Object
                && inner.TryGetProperty("runId", out var id) && id.ValueKind == JsonValueKind.String && Guid.TryParse(id.GetString(), out var parsed)
                ? parsed
                : null;
            return (type, runId);
        }
        catch (JsonException)
        {
            return (null, null);
        }
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

/// <summary>A dead-letter queue and the messages it holds.</summary>
public sealed record DeadLetterQueue(string Name, string Kind, uint Messages);

/// <summary>One dead-lettered message: what it is, which run, and why it failed (MassTransit's fault headers).</summary>
public sealed record DeadLetter(
    string? MessageId,
    string? MessageType,
    Guid? RunId,
    string? Reason,
    string? FaultMessage,
    string? ExceptionType,
    DateTimeOffset? FailedAt,
    string? InputAddress,
    string? ConsumerType,
    long Deliveries,
    int Bytes,
    string Body);
