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
/// <para>
/// Replaying puts a message back on the queue it failed on, as first sent; discarding removes it, its body kept in
/// <c>runsaga.dead_letter_actions</c>. Both take a message out only after its audit row (and, for a replay, the broker's
/// confirm of the copy) is in: a crash in between leaves it in the dead-letter queue, and at worst replays it twice,
/// which every RunSaga consumer absorbs (each is idempotent by run and message).
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

    /// <summary>
    /// Headers a failure added, dropped from a replayed message so it arrives as it was first sent: MassTransit's fault
    /// description (<c>MT-Fault-*</c>, <c>MT-Reason</c>, the failing host's <c>MT-Host-*</c>) and the broker's delivery counts.
    /// </summary>
    private static readonly string[] FailureHeaderPrefixes = ["MT-Fault-", "MT-Host-", "MT-Reason", "MT-Redelivery-Count", "x-delivery-count", "x-death", "x-first-death-"];

    private readonly OwnBrokerConnection broker = new(configuration, "runsaga-orchestrator-dead-letters");

    /// <summary>Every dead-letter queue RunSaga may have, whether or not it exists yet.</summary>
    public static IReadOnlyList<string> Queues { get; } = [.. Endpoints.SelectMany(e => new[] { $"{e}_error", $"{e}_skipped" })];

    /// <summary>The queue a dead letter came from: its dead-letter queue's name without the suffix (never a header's word).</summary>
    public static string SourceQueue(string queue) => queue[..queue.LastIndexOf('_')];

    /// <summary>The dead-letter queues that exist, with the messages each holds.</summary>
    public Task<IReadOnlyList<DeadLetterQueue>> CountAsync(CancellationToken cancellationToken) =>
        broker.UseAsync<IReadOnlyList<DeadLetterQueue>>(async connection =>
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

            return queues;
        }, cancellationToken);

    /// <summary>Up to <paramref name="limit"/> messages from the head of <paramref name="queue"/>, left where they are; null when the queue does not exist.</summary>
    public async Task<IReadOnlyList<DeadLetter>?> PeekAsync(string queue, int limit, CancellationToken cancellationToken)
    {
        await using var held = await LockQueueAsync(queue, cancellationToken);
        return await broker.UseAsync<IReadOnlyList<DeadLetter>?>(async connection =>
        {
            // Closing the channel gives back every message read here, unacknowledged.
            var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            var letters = new List<DeadLetter>();
            uint before;
            await using (channel)
            {
                if (await CountAsync(channel, queue, cancellationToken) is not { } count)
                {
                    return null;
                }

                before = count;
                while (letters.Count < limit && await channel.BasicGetAsync(queue, autoAck: false, cancellationToken) is { } message)
                {
                    letters.Add(Describe(message));
                }

                await channel.CloseAsync(cancellationToken);
            }

            await WaitUntilGivenBackAsync(connection, queue, before, cancellationToken);
            return letters;
        }, cancellationToken);
    }

    /// <summary>
    /// Puts the selected messages of <paramref name="queue"/> back on the queue they failed on, each as it was first sent
    /// (same body and message id, the failure's headers dropped), and records each in <c>runsaga.dead_letter_actions</c>.
    /// A message leaves the dead-letter queue only after the broker confirmed its replay; the others stay, in order.
    /// Looks at most at the messages the queue held when it started (a message that fails again meanwhile is not looked at
    /// twice). Null when the queue does not exist.
    /// </summary>
    public Task<DeadLetterMove?> ReplayAsync(string queue, DeadLetterSelection selection, string requestedBy, CancellationToken cancellationToken)
    {
        var target = SourceQueue(queue);
        return MoveAsync(queue, selection, async (channel, message, letter) =>
        {
            var properties = new BasicProperties(message.BasicProperties)
            {
                Headers = (message.BasicProperties.Headers ?? new Dictionary<string, object?>())
                    .Where(h => !FailureHeaderPrefixes.Any(prefix => h.Key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)))
                    .ToDictionary(h => h.Key, h => h.Value),
            };

            // The default exchange routes by queue name; mandatory: a queue that is gone returns the message (an exception
            // here) instead of dropping it. The await is the broker's confirm.
            await channel.BasicPublishAsync(string.Empty, target, mandatory: true, properties, message.Body, cancellationToken);
            await RecordAsync("replayed", queue, target, letter, requestedBy, reason: null, body: null);
        }, target, cancellationToken);
    }

    /// <summary>
    /// Removes one message (by message id) from <paramref name="queue"/> for good, after writing it whole (body included)
    /// with who discarded it and why into <c>runsaga.dead_letter_actions</c>. Null when the queue does not exist.
    /// </summary>
    public Task<DeadLetterMove?> DiscardAsync(string queue, string messageId, string reason, string requestedBy, CancellationToken cancellationToken) =>
        MoveAsync(queue, new DeadLetterSelection(messageId, null, false), (_, message, letter) =>
            RecordAsync("discarded", queue, null, letter, requestedBy, reason, message.Body.ToArray()), target: null, cancellationToken);

    public ValueTask DisposeAsync() => broker.DisposeAsync();

    /// <summary>
    /// The common walk of a replay or discard: under the queue's lock, get each message (unacknowledged) up to the count
    /// the queue had at the start; <paramref name="act"/> on those selected, then acknowledge them (removed); close the
    /// channel, which gives back the rest at the head, in order. Never a nack: a requeue would move a message to the tail.
    /// </summary>
    private async Task<DeadLetterMove?> MoveAsync(
        string queue, DeadLetterSelection selection, Func<IChannel, BasicGetResult, DeadLetter, Task> act, string? target, CancellationToken cancellationToken)
    {
        await using var held = await LockQueueAsync(queue, cancellationToken);
        return await broker.UseAsync<DeadLetterMove?>(async connection =>
        {
            var channel = await connection.CreateChannelAsync(
                new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
            var moved = new List<DeadLetter>();
            uint count = 0;
            try
            {
                await using (channel)
                {
                    if (await CountAsync(channel, queue, cancellationToken) is not { } before)
                    {
                        return null;
                    }

                    count = before;
                    if (target is not null && !await ExistsAsync(connection, target, cancellationToken))
                    {
                        throw new DeadLetterTargetMissingException($"{target}, where the messages of {queue} came from, does not exist on the broker: start a host that consumes it first.");
                    }

                    for (var seen = 0u; seen < count; seen++)
                    {
                        if (await channel.BasicGetAsync(queue, autoAck: false, cancellationToken) is not { } message)
                        {
                            break;
                        }

                        var letter = Describe(message);
                        if (!selection.Matches(letter))
                        {
                            continue;
                        }

                        await act(channel, message, letter);
                        await channel.BasicAckAsync(message.DeliveryTag, multiple: false, cancellationToken);
                        moved.Add(letter);
                        if (selection.MessageId is not null)
                        {
                            break;
                        }
                    }

                    await channel.CloseAsync(cancellationToken);
                }
            }
            catch when (count > 0)
            {
                // Still under the lock: whatever was read goes back before another reader looks (the first failure stands).
                try
                {
                    await WaitUntilGivenBackAsync(connection, queue, count - (uint)moved.Count, CancellationToken.None);
                }
                catch (Exception)
                {
                    // A broken connection: its channel's messages go back when the broker notices.
                }

                throw;
            }

            await WaitUntilGivenBackAsync(connection, queue, count - (uint)moved.Count, cancellationToken);
            return new DeadLetterMove(queue, target, moved.Count, moved);
        }, cancellationToken);
    }

    /// <summary>
    /// The broker takes back a closed channel's unacknowledged messages after it answered the close (a quorum queue's
    /// leader learns of it asynchronously), so a count asked at once can be short. Every read and move waits, still
    /// holding the queue's lock, until the queue holds again at least the messages it gave out (nothing else takes from a
    /// dead-letter queue): the next reader, here or in another Orchestrator, finds the queue as it was.
    /// </summary>
    private static async Task WaitUntilGivenBackAsync(IConnection connection, string queue, uint atLeast, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            await using (var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken))
            {
                if (await CountAsync(channel, queue, cancellationToken) is not { } count || count >= atLeast || DateTime.UtcNow > deadline)
                {
                    return;
                }
            }

            await Task.Delay(50, cancellationToken);
        }
    }

    private static async Task<bool> ExistsAsync(IConnection connection, string queue, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        return await CountAsync(channel, queue, cancellationToken) is not null;
    }

    /// <summary>
    /// One reader or mover per queue across every Orchestrator: while one holds a queue's messages another would see it
    /// short. A session lock on a connection of its own, held until the returned handle is disposed; another Orchestrator
    /// waits up to 10 s for it, then <see cref="DeadLetterQueueBusyException"/>.
    /// </summary>
    private async Task<IAsyncDisposable> LockQueueAsync(string queue, CancellationToken cancellationToken)
    {
        if (!Queues.Contains(queue))
        {
            throw new ArgumentException($"{queue} is not one of RunSaga's dead-letter queues", nameof(queue));
        }

        var db = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var take = new NpgsqlCommand("SET lock_timeout = '10s'; SELECT pg_advisory_lock(hashtextextended(@queue, 7006)); RESET lock_timeout", db);
            take.Parameters.AddWithValue("queue", queue);
            await take.ExecuteNonQueryAsync(cancellationToken);
            return new QueueLock(db, queue);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            await db.DisposeAsync();
            throw new DeadLetterQueueBusyException($"Another Orchestrator has been reading or moving {queue} for 10 s; try again when it is done.");
        }
        catch
        {
            await db.DisposeAsync();
            throw;
        }
    }

    /// <summary>An audit row, committed before the message is acknowledged: a crash between the two leaves the message where it was.</summary>
    private async Task RecordAsync(string action, string queue, string? target, DeadLetter letter, string requestedBy, string? reason, byte[]? body)
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO runsaga.dead_letter_actions
                (action, queue, target_queue, message_id, message_type, run_id, fault_message, requested_by, reason, body, recorded_at)
            VALUES (@action, @queue, @target, @messageId, @messageType, @runId, @fault, @by, @reason, @body, now())
            """);
        command.Parameters.AddWithValue("action", action);
        command.Parameters.AddWithValue("queue", queue);
        command.Parameters.Add(new NpgsqlParameter("target", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)target ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("messageId", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)letter.MessageId ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("messageType", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)letter.MessageType ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("runId", NpgsqlTypes.NpgsqlDbType.Uuid) { Value = (object?)letter.RunId ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("fault", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)letter.FaultMessage ?? DBNull.Value });
        command.Parameters.AddWithValue("by", requestedBy);
        command.Parameters.Add(new NpgsqlParameter("reason", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)reason ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("body", NpgsqlTypes.NpgsqlDbType.Bytea) { Value = (object?)body ?? DBNull.Value });
        await command.ExecuteNonQueryAsync(CancellationToken.None);
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

    /// <summary>The session lock of <see cref="LockQueueAsync"/>: released, then its connection closed.</summary>
    private sealed class QueueLock(NpgsqlConnection db, string queue) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await using var release = new NpgsqlCommand("SELECT pg_advisory_unlock(hashtextextended(@queue, 7006))", db);
                release.Parameters.AddWithValue("queue", queue);
                await release.ExecuteNonQueryAsync(CancellationToken.None);
            }
            finally
            {
                // A broken connection ends its session, and the lock with it.
                await db.DisposeAsync();
            }
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

/// <summary>Which messages of a dead-letter queue an operator acts on: one (by message id), every one of a run, or all.</summary>
public sealed record DeadLetterSelection(string? MessageId, Guid? RunId, bool All)
{
    public bool Matches(DeadLetter letter) =>
        All || (MessageId is not null && string.Equals(letter.MessageId, MessageId, StringComparison.OrdinalIgnoreCase))
        || (RunId is not null && letter.RunId == RunId);
}

/// <summary>What a replay or discard did: the messages it took out of <paramref name="Queue"/> (and, for a replay, put on <paramref name="Target"/>).</summary>
public sealed record DeadLetterMove(string Queue, string? Target, int Count, IReadOnlyList<DeadLetter> Messages);

/// <summary>The queue a dead letter would be replayed to does not exist (no host has declared it).</summary>
public sealed class DeadLetterTargetMissingException(string message) : Exception(message);

/// <summary>Another Orchestrator holds the queue (reading or moving its messages).</summary>
public sealed class DeadLetterQueueBusyException(string message) : Exception(message);
