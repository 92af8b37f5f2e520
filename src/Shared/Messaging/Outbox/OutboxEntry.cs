using System.Text.Json;
using MassTransit;
using MassTransit.Serialization;
using Npgsql;
using NpgsqlTypes;
using RunSaga.Contracts;

namespace RunSaga.Shared.Messaging.Outbox;

/// <summary>
/// One message a transaction decided to publish (<see cref="Queue"/> null) or send to a queue, before it is written to
/// <c>runsaga.outbox_messages</c>. Its <see cref="MessageId"/> is chosen here and kept on every delivery, so a receiver
/// can recognise a repeat.
/// </summary>
public sealed record OutboxEntry(Guid MessageId, Guid? RunId, string? Queue, Type MessageType, object Message, Guid? ConversationId, Guid? InitiatorId)
{
    /// <summary>The channel every dispatcher LISTENs on; a transaction that writes messages notifies it at commit.</summary>
    public const string Channel = "runsaga_outbox";

    private const string InsertSql = """
        INSERT INTO runsaga.outbox_messages (message_id, run_id, queue, message_type, body, conversation_id, initiator_id)
        SELECT m, r, q, t, b::jsonb, c, i FROM unnest(@m, @r, @q, @t, @b, @c, @i) AS x(m, r, q, t, b, c, i)
        """;

    private const string NotifySql = "SELECT pg_notify('runsaga_outbox', '')";

    /// <summary>A message written while handling <paramref name="cause"/> (its messageId becomes the initiator id).</summary>
    public static OutboxEntry For<T>(T message, Guid? runId, string? queue, ConsumeContext? cause)
        where T : class =>
        new(NewId.NextGuid(), runId, queue, typeof(T), message, cause?.ConversationId, cause?.MessageId);

    /// <summary>An event to publish that no consumed message caused (or whose cause is not at hand).</summary>
    public static OutboxEntry Event(object message, Guid? runId) =>
        new(NewId.NextGuid(), runId, null, message.GetType(), message, null, null);

    /// <summary>
    /// Writes <paramref name="entries"/> in the caller's transaction, in one round trip. With <paramref name="notify"/> the
    /// commit also wakes every dispatcher (NOTIFY); without it, the caller wakes its own process's dispatcher after the
    /// commit, and the others find the rows at their next poll. (NOTIFY serialises the commits that send it, so the saga's
    /// hot path does without.)
    /// </summary>
    public static async Task WriteAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyCollection<OutboxEntry> entries, bool notify, CancellationToken cancellationToken)
    {
        if (entries.Count == 0)
        {
            return;
        }

        await using var command = new NpgsqlCommand(notify ? $"{InsertSql};{NotifySql}" : InsertSql, connection, transaction);
        AddParameters(command.Parameters, entries);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The same insert (without NOTIFY) as one command of a caller's <see cref="NpgsqlBatch"/>: the saga sends it with its other writes.</summary>
    public static NpgsqlBatchCommand InsertCommand(IReadOnlyCollection<OutboxEntry> entries)
    {
        var command = new NpgsqlBatchCommand(InsertSql);
        AddParameters(command.Parameters, entries);
        return command;
    }

    private static void AddParameters(NpgsqlParameterCollection parameters, IReadOnlyCollection<OutboxEntry> entries)
    {
        parameters.Add(new NpgsqlParameter<Guid[]>("m", [.. entries.Select(e => e.MessageId)]));
        parameters.Add(new NpgsqlParameter("r", NpgsqlDbType.Array | NpgsqlDbType.Uuid)
        {
            Value = entries.Select(e => e.RunId is { } id ? (object)id : DBNull.Value).ToArray(),
        });
        parameters.Add(new NpgsqlParameter("q", NpgsqlDbType.Array | NpgsqlDbType.Text)
        {
            Value = entries.Select(e => (object?)e.Queue ?? DBNull.Value).ToArray(),
        });
        parameters.Add(new NpgsqlParameter<string[]>("t", [.. entries.Select(e => e.MessageType.FullName!)]));
        parameters.Add(new NpgsqlParameter<string[]>("b", [.. entries.Select(e => Serialize(e.Message, e.MessageType))]));
        parameters.Add(new NpgsqlParameter("c", NpgsqlDbType.Array | NpgsqlDbType.Uuid)
        {
            Value = entries.Select(e => e.ConversationId is { } id ? (object)id : DBNull.Value).ToArray(),
        });
        parameters.Add(new NpgsqlParameter("i", NpgsqlDbType.Array | NpgsqlDbType.Uuid)
        {
            Value = entries.Select(e => e.InitiatorId is { } id ? (object)id : DBNull.Value).ToArray(),
        });
    }

    /// <summary>The message as MassTransit writes the envelope's <c>message</c> (camelCase).</summary>
    public static string Serialize(object message, Type type) =>
        JsonSerializer.Serialize(message, type, SystemTextJsonMessageSerializer.Options);

    /// <summary>
    /// A stored message back as its contract type. Only RunSaga's contracts are read: a row naming any other type is
    /// refused, whoever wrote it.
    /// </summary>
    public static (Type Type, object Message) Deserialize(string typeName, string body)
    {
        var type = typeof(RunRequested).Assembly.GetType(typeName, throwOnError: false)
            ?? throw new InvalidOperationException($"runsaga.outbox_messages names message type '{typeName}', which is not one of RunSaga's contracts.");
        var message = JsonSerializer.Deserialize(body, type, SystemTextJsonMessageSerializer.Options)
            ?? throw new InvalidOperationException($"runsaga.outbox_messages holds a null {typeName}.");
        return (type, message);
    }
}
