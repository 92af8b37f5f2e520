using System.Threading.Channels;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using RunSaga.Shared.Hosting;

namespace RunSaga.Shared.Messaging.Outbox;

/// <summary>
/// Delivers <c>runsaga.outbox_messages</c> to RabbitMQ after the transactions that wrote them have committed, and deletes
/// what was delivered. Every host that writes to the outbox runs one; several share the rows:
/// <list type="bullet">
/// <item>A batch is claimed with <c>FOR UPDATE SKIP LOCKED</c> in one transaction, published with publisher confirms, and
/// deleted in the same transaction. A crash before the commit leaves the rows for the next dispatcher: delivered at least
/// once, always with the row's own messageId.</item>
/// <item>A run's messages are delivered in the order they were written, by one dispatcher at a time: after claiming, it
/// takes an advisory lock per run of the batch, and delivers a run's rows only from the run's oldest row on, up to the
/// first row it did not claim (another dispatcher holds it). A row that fails is tried again later with a growing pause,
/// and holds back only the later rows of its own run.</item>
/// <item>Woken at once: in this process by <see cref="Wake"/> right after a commit, in the others by the transaction's
/// <c>NOTIFY runsaga_outbox</c>; every OUTBOX_POLL_INTERVAL it also looks without being woken (a notification missed while
/// its listening connection was down, rows left by a host that died). It starts with a look, so a restart delivers what
/// a crash left at once.</item>
/// </list>
/// </summary>
public sealed class OutboxDispatcher(
    NpgsqlDataSource dataSource,
    IBus bus,
    IOptions<RunSagaOptions> options,
    ILogger<OutboxDispatcher> logger) : BackgroundService
{
    private const string ClaimSql = """
        SELECT sequence, message_id, run_id, queue, message_type, body::text, conversation_id, initiator_id
        FROM runsaga.outbox_messages
        WHERE sequence <> ALL(@pausing)
        ORDER BY sequence
        LIMIT @batch
        FOR UPDATE SKIP LOCKED
        """;

    /// <summary>Of the batch's runs, those this dispatcher may deliver now (their advisory lock), with every pending row of each.</summary>
    private const string RunsSql = """
        SELECT o.run_id, o.sequence
        FROM unnest(@runs) AS r(id)
        JOIN runsaga.outbox_messages o ON o.run_id = r.id
        WHERE pg_try_advisory_xact_lock(hashtextextended(r.id::text, 7005))
        ORDER BY o.run_id, o.sequence
        """;

    private const string DeleteSql = "DELETE FROM runsaga.outbox_messages WHERE sequence = ANY(@delivered)";

    private readonly Channel<bool> wakeUps = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    // Rows whose delivery failed, and when to try them again: a local pause only (another dispatcher may try sooner).
    private readonly Dictionary<long, (int Failures, DateTime RetryAt)> failing = [];

    /// <summary>How long one batch may take to publish before its transaction gives up (and its rows wait for the next).</summary>
    private static readonly TimeSpan BatchTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How many messages one transaction claims at most.</summary>
    public const int BatchSize = 200;

    /// <summary>Asks this process's dispatcher to look now (a transaction that wrote messages has just committed).</summary>
    public void Wake() => wakeUps.Writer.TryWrite(true);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _ = Task.Run(() => ListenAsync(stoppingToken), stoppingToken);
        Wake();
        while (!stoppingToken.IsCancellationRequested)
        {
            using (var poll = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
            {
                poll.CancelAfter(options.Value.OutboxPollInterval);
                try
                {
                    await wakeUps.Reader.WaitToReadAsync(poll.Token);
                }
                catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                {
                    // The poll interval passed without a wake-up: look anyway.
                }
            }

            wakeUps.Reader.TryRead(out _);
            try
            {
                // A full batch that delivered something: there may be more right behind it.
                while (await DeliverBatchAsync(stoppingToken) is { Claimed: BatchSize, Delivered: > 0 })
                {
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex,
                    "Could not deliver the outbox's messages; they stay in runsaga.outbox_messages and are tried again in {Interval}. "
                    + "Are PostgreSQL and RabbitMQ reachable?", options.Value.OutboxPollInterval);
            }
        }
    }

    /// <summary>Claims, publishes and deletes one batch; returns how many rows it claimed and how many it delivered.</summary>
    internal async Task<(int Claimed, int Delivered)> DeliverBatchAsync(CancellationToken stoppingToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(BatchTimeout);
        var cancellationToken = timeout.Token;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var rows = new List<Row>();
        await using (var claim = new NpgsqlCommand(ClaimSql, connection, transaction))
        {
            claim.Parameters.AddWithValue("batch", BatchSize);
            claim.Parameters.AddWithValue("pausing", Pausing());
            await using var reader = await claim.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add(new Row(
                    reader.GetInt64(0),
                    reader.GetGuid(1),
                    reader.IsDBNull(2) ? null : reader.GetGuid(2),
                    reader.IsDBNull(3) ? null : reader.GetString(3),
                    reader.GetString(4),
                    reader.GetString(5),
                    reader.IsDBNull(6) ? null : reader.GetGuid(6),
                    reader.IsDBNull(7) ? null : reader.GetGuid(7)));
            }
        }

        if (rows.Count == 0)
        {
            return (0, 0);
        }

        var deliverable = await InOrderAsync(connection, transaction, rows, cancellationToken);

        // Runs in parallel, each run's messages in order; a run stops at its first failure so nothing overtakes it.
        var delivered = await Task.WhenAll(deliverable.Select(run => DeliverInOrderAsync(run, cancellationToken)));
        var sequences = delivered.SelectMany(d => d).ToArray();

        // What RabbitMQ confirmed is deleted even while the host stops: otherwise it would be published again.
        await using (var delete = new NpgsqlCommand(DeleteSql, connection, transaction))
        {
            delete.Parameters.AddWithValue("delivered", sequences);
            await delete.ExecuteNonQueryAsync(CancellationToken.None);
        }

        await transaction.CommitAsync(CancellationToken.None);
        return (rows.Count, sequences.Length);
    }

    /// <summary>
    /// The claimed rows this dispatcher may publish now, as ordered groups: a row without a run alone; a run's rows only if
    /// its advisory lock was free, and only from its oldest pending row on, up to the first pending row not claimed here.
    /// </summary>
    private static async Task<List<List<Row>>> InOrderAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<Row> rows, CancellationToken cancellationToken)
    {
        var groups = rows.Where(r => r.RunId is null).Select(r => new List<Row> { r }).ToList();
        var claimed = rows.Where(r => r.RunId is not null).ToDictionary(r => r.Sequence);
        if (claimed.Count == 0)
        {
            return groups;
        }

        var pending = new List<(Guid RunId, long Sequence)>();
        await using (var runs = new NpgsqlCommand(RunsSql, connection, transaction))
        {
            runs.Parameters.AddWithValue("runs", claimed.Values.Select(r => r.RunId!.Value).Distinct().ToArray());
            await using var reader = await runs.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                pending.Add((reader.GetGuid(0), reader.GetInt64(1)));
            }
        }

        foreach (var run in pending.GroupBy(p => p.RunId))
        {
            var group = run.OrderBy(p => p.Sequence).TakeWhile(p => claimed.ContainsKey(p.Sequence)).Select(p => claimed[p.Sequence]).ToList();
            if (group.Count > 0)
            {
                groups.Add(group);
            }
        }

        return groups;
    }

    private async Task<List<long>> DeliverInOrderAsync(IEnumerable<Row> rows, CancellationToken cancellationToken)
    {
        var delivered = new List<long>();
        foreach (var row in rows)
        {
            try
            {
                await DeliverAsync(row, cancellationToken);
                delivered.Add(row.Sequence);
                Succeeded(row.Sequence);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                var retryIn = Failed(row.Sequence);
                using var scope = RunLogScope.Begin(row.RunId ?? Guid.Empty, null);
                logger.LogWarning(ex,
                    "Outbox message {MessageId} ({MessageType}, row {Sequence}) was not delivered; it is tried again in {RetryIn}, and the "
                    + "run's later messages wait for it. A row that can never be read back (a contract changed incompatibly) must be deleted "
                    + "from runsaga.outbox_messages by hand", row.MessageId, row.MessageType, row.Sequence, retryIn);
                break;
            }
        }

        return delivered;
    }

    private long[] Pausing()
    {
        lock (failing)
        {
            var now = DateTime.UtcNow;
            return [.. failing.Where(f => f.Value.RetryAt > now).Select(f => f.Key)];
        }
    }

    private TimeSpan Failed(long sequence)
    {
        lock (failing)
        {
            var failures = failing.TryGetValue(sequence, out var was) ? was.Failures + 1 : 1;
            var pause = TimeSpan.FromSeconds(Math.Min(300, Math.Pow(2, failures)));
            failing[sequence] = (failures, DateTime.UtcNow + pause);
            return pause;
        }
    }

    private void Succeeded(long sequence)
    {
        lock (failing)
        {
            failing.Remove(sequence);
        }
    }

    private async Task DeliverAsync(Row row, CancellationToken cancellationToken)
    {
        var (type, message) = OutboxEntry.Deserialize(row.MessageType, row.Body);
        void Stamp(SendContext context)
        {
            context.MessageId = row.MessageId;
            context.ConversationId = row.ConversationId;
            context.InitiatorId = row.InitiatorId;
            context.CorrelationId = row.RunId;
        }

        if (row.Queue is null)
        {
            await bus.Publish(message, type, Pipe.Execute<PublishContext>(Stamp), cancellationToken);
        }
        else
        {
            var endpoint = await bus.GetSendEndpoint(QueueNames.Address(row.Queue));
            await endpoint.Send(message, type, Pipe.Execute<SendContext>(Stamp), cancellationToken);
        }
    }

    /// <summary>
    /// Keeps a connection LISTENing on <see cref="OutboxEntry.Channel"/>: another host's commit wakes this dispatcher.
    /// If the connection drops it is opened again; meanwhile the poll interval covers.
    /// </summary>
    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, _) => Wake();
                await using (var listen = new NpgsqlCommand($"LISTEN {OutboxEntry.Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }

                // Anything committed while this connection was not yet listening.
                Wake();
                while (!stoppingToken.IsCancellationRequested)
                {
                    await connection.WaitAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "The outbox's LISTEN connection failed; opening it again in {Interval}", options.Value.OutboxPollInterval);
                try
                {
                    await Task.Delay(options.Value.OutboxPollInterval, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private sealed record Row(
        long Sequence, Guid MessageId, Guid? RunId, string? Queue, string MessageType, string Body, Guid? ConversationId, Guid? InitiatorId);
}

public static class OutboxRegistration
{
    /// <summary>This host's outbox dispatcher, started after the bus (register after AddMassTransit).</summary>
    public static IServiceCollection AddOutboxDispatcher(this IServiceCollection services)
    {
        services.AddSingleton<OutboxDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<OutboxDispatcher>());
        return services;
    }
}
