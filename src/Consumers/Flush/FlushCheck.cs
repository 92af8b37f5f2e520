using Npgsql;
using RunSaga.Shared.Data;

namespace RunSaga.Consumers.Flush;

/// <summary>
/// The flush check, run inside the caller's READ COMMITTED transaction (staging a batch, or recording a flush
/// request). It takes the run lock first; the read that follows is a new statement and so a new snapshot, taken
/// after any transaction that held the lock before us has committed. Whichever of "stage the last batch" and
/// "request the flush" comes second therefore sees the other, and the verdict cannot be missed.
/// </summary>
public static class FlushCheck
{
    /// <summary>Null when no flush was requested for the run yet (the scrape is not complete).</summary>
    public static async Task<FlushStatus?> RunAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand(AdvisoryLocks.LockRun) { Parameters = { new("run", runId) } },
                new NpgsqlBatchCommand(FlushSql.Status) { Parameters = { new("run", runId) } },
            },
        };

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        // The lock's own (void) row comes first.
        await reader.NextResultAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new FlushStatus(
            runId,
            ExpectedItems: reader.GetInt32(0),
            ExpectedBatches: reader.GetInt32(1),
            StagedBatches: reader.GetInt64(2),
            StagedItems: reader.GetInt64(3),
            DistinctKeys: reader.GetInt64(4));
    }
}
