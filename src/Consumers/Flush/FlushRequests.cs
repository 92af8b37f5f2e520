using System.Data;
using Npgsql;
using RunSaga.Contracts;
using Microsoft.Extensions.Options;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;

namespace RunSaga.Consumers.Flush;

/// <summary>The result of recording a flush request: the stored request (the first one wins) and its status.</summary>
/// <param name="FirstRequest">False when an earlier request for the run was already stored.</param>
public sealed record FlushRequestResult(bool FirstRequest, FlushStatus Status);

/// <summary>Records what the scraper announced for a run and checks it against the staged batches.</summary>
/// <param name="options">RUN_HISTORY: whether the request and the verdict go into the run's history (on when not given).</param>
public sealed class FlushRequests(NpgsqlDataSource dataSource, IOptions<RunSagaOptions>? options = null)
{
    public async Task<FlushRequestResult> RequestAsync(FlushRun request, CancellationToken cancellationToken, Guid? messageId = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);

        bool first;
        await using (var batch = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand(AdvisoryLocks.LockRun) { Parameters = { new("run", request.RunId) } },
                new NpgsqlBatchCommand(FlushSql.RecordRequest)
                {
                    Parameters =
                    {
                        new("run", request.RunId),
                        new("expected_items", request.ExpectedItems),
                        new("expected_batches", request.ExpectedBatches),
                    },
                },
            },
        })
        {
            await batch.ExecuteNonQueryAsync(cancellationToken);
            first = batch.BatchCommands[1].RecordsAffected == 1;
        }

        // The request's line comes before the verdict the check may reach.
        var history = options?.Value.RunHistory ?? true;
        if (history)
        {
            await RunHistory.AppendAsync(connection, transaction, new RunHistoryEntry(request.RunId, "flush", "FlushRun",
                first ? "changed" : "unchanged",
                $"{(first ? "flush requested" : "flush requested again")}: {request.ExpectedItems:N0} items in {request.ExpectedBatches:N0} batches announced",
                messageId), prepare: false, cancellationToken);
        }

        var status = await FlushCheck.RunAsync(connection, transaction, request.RunId, history, cancellationToken)
            ?? throw new InvalidOperationException(
                $"The flush request of run {request.RunId} is not in runsaga.flush_requests right after it was recorded.");

        await transaction.CommitAsync(cancellationToken);
        return new FlushRequestResult(first, status);
    }
}
