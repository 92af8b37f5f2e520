using System.Data;
using System.Text;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using RunSaga.Consumers.Flush;
using RunSaga.Contracts;
using Microsoft.Extensions.Options;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;

namespace RunSaga.Consumers.Staging;

/// <summary>What staging one batch did.</summary>
/// <param name="AlreadyStaged">The batch was staged before; nothing of it was staged again.</param>
/// <param name="Staged">Keys this batch added to the run.</param>
/// <param name="Duplicates">Items whose key was repeated later in the batch or staged by an earlier batch.</param>
/// <param name="Flush">The flush check after staging; null while no flush was requested for the run.</param>
/// <param name="Source">The run's source, when the saga knows it yet (staging never waits for it): for log lines.</param>
public sealed record StagingResult(
    bool AlreadyStaged,
    int ItemCount,
    int Staged,
    int Duplicates,
    IReadOnlyList<RejectedItem> Rejections,
    FlushStatus? Flush,
    string? Source);

/// <summary>
/// Stages one batch, whether or not the run's saga exists yet, in one READ COMMITTED transaction: claim the
/// batch, COPY (or upsert) its valid items, then the flush check. A verdict in the result may only be
/// published after this returns (the transaction has committed by then).
/// </summary>
/// <param name="options">RUN_HISTORY: whether a batch that came twice or late, and the flush verdict, go into the run's history (on when not given).</param>
public sealed class BatchStager(NpgsqlDataSource dataSource, IOptions<RunSagaOptions>? options = null)
{
    private readonly bool history = options?.Value.RunHistory ?? true;

    /// <summary>A batch built in process (its items are read as a scraper's message would be: <see cref="BatchValidation.Validate(ItemsScraped)"/>).</summary>
    /// <param name="messageId">The batch message's id, for the run's history.</param>
    public Task<StagingResult> StageAsync(ItemsScraped batch, CancellationToken cancellationToken, Guid? messageId = null, DateTime? sentAt = null) =>
        StageAsync(batch.RunId, batch.BatchId, BatchValidation.Validate(batch), cancellationToken, messageId, sentAt);

    /// <summary>Stages the validated items of batch <paramref name="batchId"/> of run <paramref name="runId"/>.</summary>
    /// <param name="messageId">The batch message's id, for the run's history.</param>
    public async Task<StagingResult> StageAsync(
        Guid runId, string batchId, ValidatedBatch validated, CancellationToken cancellationToken, Guid? messageId = null, DateTime? sentAt = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);

        // Batches of one run share this lock; archiving or deleting the run's staging takes it alone. The run's source
        // (for the log lines) and the transaction's timestamp (each staged row's staged_at) come in the same round trip.
        string? source = null;
        DateTime now;
        await using (var share = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand(AdvisoryLocks.ShareRunArtifacts) { Parameters = { new("run", runId) } },
                new NpgsqlBatchCommand(StagingSql.SourceOfRun) { Parameters = { new("run", runId) } },
                new NpgsqlBatchCommand(StagingSql.Now),
            },
        })
        {
            await using var reader = await share.ExecuteReaderAsync(cancellationToken);
            await reader.NextResultAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken) && !reader.IsDBNull(0))
            {
                source = reader.GetString(0);
            }

            await reader.NextResultAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            now = reader.GetDateTime(0);
        }

        var claimed = await ClaimAsync(connection, transaction, runId, batchId, validated, cancellationToken);
        var staged = 0;
        var duplicates = validated.DuplicatesInBatch;
        if (claimed && validated.Items.Count > 0)
        {
            (staged, duplicates) = await StageItemsAsync(connection, transaction, runId, batchId, validated.Items, now, cancellationToken);
        }

        // Also for a batch staged before: a crash between that commit and the verdict's publish is recovered
        // by the redelivery.
        if (!claimed && history)
        {
            await RecordRefusalAsync(connection, transaction, runId, batchId, validated.ItemCount, messageId, sentAt, cancellationToken);
        }

        var flush = await FlushCheck.RunAsync(connection, transaction, runId, history, cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        return new StagingResult(!claimed, validated.ItemCount, staged, duplicates, validated.Rejections, flush, source);
    }

    /// <summary>The run's source if the saga knows it yet: only for the log lines of a batch refused before staging.</summary>
    public async Task<string?> SourceOfAsync(Guid runId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(StagingSql.SourceOfRun);
        command.Parameters.AddWithValue("run", runId);
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    /// <summary>
    /// A batch that was not claimed, in the run's history: it came again (its claim is there; a redelivery or a republish),
    /// or came late (the run is past its flush, or its staging was archived or deleted). Batches staged normally are not
    /// listed one by one; the history summarises them from <c>staged_batches</c>.
    /// </summary>
    private static async Task RecordRefusalAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, string batchId, int itemCount, Guid? messageId, DateTime? sentAt,
        CancellationToken cancellationToken)
    {
        await using var claimedBefore = new NpgsqlCommand(StagingSql.BatchClaimed, connection, transaction)
        {
            Parameters = { new("run", runId), new("batch", batchId) },
        };
        var again = (bool)(await claimedBefore.ExecuteScalarAsync(cancellationToken))!;
        await RunHistory.AppendAsync(connection, transaction, new RunHistoryEntry(
            runId, "staging", "ItemsScraped", again ? "duplicate" : "late",
            again
                ? $"batch {batchId} came again ({itemCount} items): it was staged once, nothing staged now"
                : $"batch {batchId} came after the run's flush ({itemCount} items): refused, nothing of it staged",
            messageId, sentAt), prepare: false, cancellationToken);
    }

    private static async Task<bool> ClaimAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        Guid runId,
        string batchId,
        ValidatedBatch validated,
        CancellationToken cancellationToken)
    {
        var rejections = JsonSerializer.Serialize(validated.Rejections.Select(r => new { key = r.Key, reason = r.Reason }));
        await using var command = new NpgsqlCommand(StagingSql.ClaimBatch, connection, transaction)
        {
            Parameters =
            {
                new("run", runId),
                new("batch", batchId),
                new("item_count", validated.ItemCount),
                new("duplicates", validated.DuplicatesInBatch),
                new("rejected_count", validated.Rejections.Count),
                new("rejections", NpgsqlDbType.Text) { Value = rejections },
            },
        };
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>
    /// A binary COPY first, in a savepoint; when a key of the batch was staged before (a unique violation), back to the
    /// savepoint and the upsert. Both write the same rows; the COPY is the cheap path for the common batch.
    /// </summary>
    private static async Task<(int Staged, int Duplicates)> StageItemsAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        Guid runId,
        string batchId,
        IReadOnlyList<ValidItem> items,
        DateTime now,
        CancellationToken cancellationToken)
    {
        const string savepoint = "stage_items";
        await transaction.SaveAsync(savepoint, cancellationToken);
        try
        {
            return await CopyItemsAsync(connection, transaction, runId, batchId, items, now, cancellationToken);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation && ex.TableName == "staged_items")
        {
            await transaction.RollbackAsync(savepoint, cancellationToken);
            return await UpsertItemsAsync(connection, transaction, runId, batchId, items, cancellationToken);
        }
    }

    private static async Task<(int Staged, int Duplicates)> CopyItemsAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        Guid runId,
        string batchId,
        IReadOnlyList<ValidItem> items,
        DateTime now,
        CancellationToken cancellationToken)
    {
        await StagingCopy.WriteAsync(connection, runId, batchId, items, now, cancellationToken);

        await using var count = new NpgsqlCommand(StagingSql.CountCopied, connection, transaction)
        {
            Parameters = { new("run", runId), new("batch", batchId), new("staged", items.Count) },
        };
        return await ReadCountsAsync(count, runId, batchId, cancellationToken);
    }

    private static async Task<(int Staged, int Duplicates)> UpsertItemsAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        Guid runId,
        string batchId,
        IReadOnlyList<ValidItem> items,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(StagingSql.UpsertItems, connection, transaction)
        {
            Parameters =
            {
                new("run", runId),
                new("batch", batchId),
                TextArray("keys", items.Select(x => (string?)x.Key)),
                TextArray("titles", items.Select(x => x.Title)),
                TextArray("urls", items.Select(x => x.Url)),
                TextArray("data", items.Select(x => x.Data is { } data ? Encoding.UTF8.GetString(data.Span) : null)),
                TextArray("errors", items.Select(x => x.Error)),
            },
        };
        return await ReadCountsAsync(command, runId, batchId, cancellationToken);
    }

    private static async Task<(int Staged, int Duplicates)> ReadCountsAsync(NpgsqlCommand command, Guid runId, string batchId, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new InvalidOperationException(
                $"Batch {batchId} of run {runId} vanished from runsaga.staged_batches while it was being staged.");
        }

        return (reader.GetInt32(0), reader.GetInt32(1));
    }

    private static NpgsqlParameter TextArray(string name, IEnumerable<string?> values) =>
        new(name, NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = values.ToArray() };
}
