using Npgsql;
using RunSaga.Contracts;
using RunSaga.Shared.Data;

namespace RunSaga.Consumers.Flush;

/// <summary>
/// The flush check, run inside the caller's READ COMMITTED transaction (staging a batch, or recording a flush
/// request). It takes the run lock first; the read that follows is a new statement and so a new snapshot, taken
/// after any transaction that held the lock before us has committed. Whichever of "stage the last batch" and
/// "request the flush" comes second therefore sees the other, and the verdict cannot be missed. While we hold
/// the lock no other batch of the run can commit, so every read here sees the same batches.
/// </summary>
public static class FlushCheck
{
    /// <summary>Null when no flush was requested for the run yet (the scrape is not complete).</summary>
    /// <param name="history">Write the verdict, the first time it is reached, into the run's history (RUN_HISTORY).</param>
    public static async Task<FlushStatus?> RunAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, bool history, CancellationToken cancellationToken)
    {
        var status = await CheckAsync(connection, transaction, runId, cancellationToken);
        if (history && status?.Verdict is { } verdict)
        {
            var summary = verdict.Confirmed is { } confirmed
                ? $"confirmed: {status.StagedBatches:N0} of {status.ExpectedBatches:N0} batches staged, {confirmed.StagedItems:N0} items "
                  + $"({confirmed.RejectedItems:N0} rejected, {confirmed.DuplicateItems:N0} repeated keys)"
                : $"{verdict.Failed!.ErrorCode}: {verdict.Failed.ErrorMessage}";
            await RunHistory.AppendAsync(connection, transaction,
                new RunHistoryEntry(runId, "flush", "FlushVerdict", "changed", summary), prepare: false, cancellationToken, once: true);
        }

        return status;
    }

    private static async Task<FlushStatus?> CheckAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, CancellationToken cancellationToken)
    {
        FlushStatus status;
        await using (var batch = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand(AdvisoryLocks.LockRun) { Parameters = { new("run", runId) } },
                new NpgsqlBatchCommand(FlushSql.Status) { Parameters = { new("run", runId) } },
            },
        })
        {
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            // The lock's own (void) row comes first.
            await reader.NextResultAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            status = new FlushStatus(
                runId,
                ExpectedItems: reader.GetInt32(0),
                ExpectedBatches: reader.GetInt32(1),
                StagedBatches: reader.GetInt64(2),
                StagedItems: reader.GetInt64(3),
                DistinctKeys: reader.GetInt64(4),
                RejectedItems: reader.GetInt64(5),
                DuplicateItems: reader.GetInt64(6),
                Verdict: null);
        }

        if (!status.AllBatchesStaged)
        {
            return status;
        }

        if (!status.Balanced)
        {
            return status with { Verdict = FlushVerdict.Fail(Mismatch(status)) };
        }

        return status with { Verdict = FlushVerdict.Confirm(await ConfirmAsync(connection, transaction, status, cancellationToken)) };
    }

    private static FlushFailed Mismatch(FlushStatus status) => new()
    {
        RunId = status.RunId,
        ErrorCode = FlushVerdict.CountMismatch,
        ErrorMessage = $"the scraper announced {status.ExpectedItems} items in {status.ExpectedBatches} batches; "
            + $"staged batches hold {status.StagedItems} items in {status.StagedBatches} batches. "
            + "Compare the scraper's totals with runsaga.staged_batches for this run, fix the scraper's counting, "
            + "and run it again.",
    };

    private static async Task<FlushConfirmed> ConfirmAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, FlushStatus status, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(FlushSql.Details, connection, transaction)
        {
            Parameters = { new("run", status.RunId), new("limit", FlushSql.MaxReportedRejections) },
        };
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);

        await reader.ReadAsync(cancellationToken);
        var batchIds = reader.GetFieldValue<string[]>(0);

        await reader.NextResultAsync(cancellationToken);
        var rejections = new List<ItemRejection>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rejections.Add(new ItemRejection
            {
                BatchId = reader.GetString(0),
                Key = reader.IsDBNull(1) ? null : reader.GetString(1),
                Reason = reader.GetString(2),
            });
        }

        return new FlushConfirmed
        {
            RunId = status.RunId,
            StagedItems = checked((int)status.DistinctKeys),
            StagedBatches = checked((int)status.StagedBatches),
            RejectedItems = checked((int)status.RejectedItems),
            DuplicateItems = checked((int)status.DuplicateItems),
            BatchIds = batchIds,
            Rejections = rejections,
        };
    }
}
