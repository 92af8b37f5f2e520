using System.Data;
using Microsoft.Extensions.Options;
using Npgsql;
using RunSaga.Consumers.Lineage;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;

namespace RunSaga.Consumers.Promotion;

/// <summary>What a promotion did to <c>projects</c>.</summary>
/// <param name="Errored">Items that carried an error (their rows have status error).</param>
public sealed record PromotionCounts(int Inserted, int Updated, int Unchanged, int Errored);

/// <param name="AlreadyPromoted">The run was promoted before: nothing changed, the counts are the recorded ones.</param>
/// <param name="Cancelled">The run was cancelled before its promotion took the source lock: nothing changed, no counts.</param>
public sealed record PromotionResult(PromotionCounts Counts, bool AlreadyPromoted, bool Cancelled = false);

/// <summary>
/// Promotes a run's staged items into <c>projects</c> with item lineage and the run's lineage summary
/// (<c>run_lineage</c>), all in one transaction: any failure rolls it back and leaves <c>projects</c> exactly as it was.
/// Idempotent by run id.
/// </summary>
public sealed class RunPromoter(NpgsqlDataSource dataSource, IOptions<RunSagaOptions> options)
{
    /// <param name="processType">The run's process type: a full one (ingestion, manual_reindex) carries every item of its
    /// source, a sync run only what it carries; recorded in the lineage summary.</param>
    public async Task<PromotionResult> PromoteAsync(Guid runId, string source, string processType, CancellationToken cancellationToken)
    {
        var fullRun = ProcessType.IsFull(processType);
        ArgumentException.ThrowIfNullOrEmpty(source);

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await RefreshStatisticsForLargeRun(connection, runId, cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);

        // Lock first, then look: a promotion of this run that held the lock has committed by now, and so has a cancel of
        // the run (the saga takes the same lock to cancel a flushed run, see IRunLedger).
        await using (var check = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand(AdvisoryLocks.LockSource) { Parameters = { new("source", source) } },
                new NpgsqlBatchCommand(PromotionSql.RecordedCounts) { Parameters = { new("run", runId) } },
                new NpgsqlBatchCommand(PromotionSql.Cancelled) { Parameters = { new("run", runId) } },
            },

            // The lock waits for any promotion of this source that is running, which may be a long one.
            Timeout = (int)options.Value.PromotionTimeout.TotalSeconds,
        })
        {
            await using var reader = await check.ExecuteReaderAsync(cancellationToken);
            await reader.NextResultAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                // Promoted before, perhaps by a consumer that left the summary to StampLineage: stamped now if it is missing.
                var recorded = ReadCounts(reader);
                await reader.DisposeAsync();
                await StampLineageAsync(connection, transaction, runId, source, processType, cancellationToken);
                await HistoryAsync(connection, transaction, runId, "duplicate", "promoted before; nothing changed", cancellationToken);
                await transaction.CommitAsync(cancellationToken);
                return new PromotionResult(recorded, AlreadyPromoted: true);
            }

            await reader.NextResultAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                await reader.DisposeAsync();
                await HistoryAsync(connection, transaction, runId, "unchanged", "not promoted: the run was cancelled first", cancellationToken);
                await transaction.CommitAsync(cancellationToken);
                return new PromotionResult(new PromotionCounts(0, 0, 0, 0), AlreadyPromoted: false, Cancelled: true);
            }
        }

        PromotionCounts counts;
        await using (var promote = new NpgsqlCommand(PromotionSql.Promote, connection, transaction)
        {
            Parameters = { new("run", runId), new("source", source), new("full", fullRun) },
            CommandTimeout = (int)options.Value.PromotionTimeout.TotalSeconds,
        })
        {
            await using var reader = await promote.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            counts = ReadCounts(reader);
        }

        await StampLineageAsync(connection, transaction, runId, source, processType, cancellationToken);
        await HistoryAsync(connection, transaction, runId, "changed",
            $"{counts.Inserted:N0} inserted, {counts.Updated:N0} updated, {counts.Unchanged:N0} unchanged, {counts.Errored:N0} errored ({(fullRun ? "full" : "sync")} run); lineage stamped",
            cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new PromotionResult(counts, AlreadyPromoted: false);
    }

    /// <summary>The promotion's line in the run's history, in its transaction.</summary>
    private Task HistoryAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, string outcome, string summary, CancellationToken cancellationToken) =>
        options.Value.RunHistory
            ? RunHistory.AppendAsync(connection, transaction, new RunHistoryEntry(runId, "promotion", "Promotion", outcome, summary), prepare: false, cancellationToken)
            : Task.CompletedTask;

    /// <summary>The run's lineage summary, from what the promotion recorded (a no-op when it is recorded already).</summary>
    private async Task StampLineageAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, string source, string processType, CancellationToken cancellationToken)
    {
        await using var stamp = LineageStamper.StampCommand(connection, transaction, runId, source, processType, options.Value);
        await stamp.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task RefreshStatisticsForLargeRun(NpgsqlConnection connection, Guid runId, CancellationToken cancellationToken)
    {
        await using var count = new NpgsqlCommand(PromotionSql.StagedCount, connection) { Parameters = { new("run", runId) } };
        if ((long)(await count.ExecuteScalarAsync(cancellationToken) ?? 0L) < PromotionSql.LargeRun)
        {
            return;
        }

        await using var analyze = new NpgsqlCommand(PromotionSql.RefreshStatistics, connection)
        {
            CommandTimeout = (int)options.Value.PromotionTimeout.TotalSeconds,
        };
        await analyze.ExecuteNonQueryAsync(cancellationToken);
    }

    private static PromotionCounts ReadCounts(NpgsqlDataReader reader) =>
        new(reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3));
}
