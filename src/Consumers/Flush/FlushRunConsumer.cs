using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Logging;
using Npgsql;
using RunSaga.Contracts;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Flush;

/// <summary>
/// Records the saga's flush request and answers as soon as the staged batches allow a verdict. When batches
/// are still missing it answers nothing: the staging consumer publishes the verdict when the last one lands.
/// The announced counts are the ledger's: a run that <c>runsaga.runs</c> shows waiting for its flush (Flushing) is
/// checked against its row's expected items and batches; a run whose flush was requested before is checked again;
/// any other run is refused.
/// </summary>
public sealed class FlushRunConsumer(
    FlushRequests flushRequests, NpgsqlDataSource dataSource, CrashPoint crashPoint, ILogger<FlushRunConsumer> logger)
    : IConsumer<FlushRun>
{
    public async Task Consume(ConsumeContext<FlushRun> context)
    {
        var run = await LedgerRun.ReadAsync(dataSource, context.Message.RunId, context.CancellationToken);
        using var _ = RunLogScope.Begin(context.Message.RunId, run?.Source);
        if (run is { FlushRequested: false } && RunStatus.IsFinal(RunStatus.Public(run.SagaState)))
        {
            // A late or repeated command for a run that ended before its flush was checked (failed, cancelled): nothing to do.
            logger.LogWarning("FlushRun ignored: the run ended {SagaState} before its flush was checked", run.SagaState);
            return;
        }

        if (run is null || !(run.FlushRequested || run.SagaState == RunStatus.Flushing))
        {
            throw new InvalidMessageException(run is null
                ? $"FlushRun refused: runsaga.runs has no run {context.Message.RunId}."
                : $"FlushRun refused: runsaga.runs shows run {run.Id} {run.SagaState}, not waiting for a flush.");
        }

        var request = context.Message with
        {
            ExpectedItems = run.ExpectedItems ?? context.Message.ExpectedItems,
            ExpectedBatches = run.ExpectedBatches ?? context.Message.ExpectedBatches,
        };

        var stopwatch = Stopwatch.StartNew();
        var (first, status) = await flushRequests.RequestAsync(request, context.CancellationToken, context.MessageId);
        var elapsedMs = stopwatch.ElapsedMilliseconds;
        crashPoint.Reached("flush-committed", run.Source);

        if (first)
        {
            logger.LogInformation(
                "flush requested: expecting {ExpectedItems} items in {ExpectedBatches} batches; {StagedBatches} batches staged so far ({ElapsedMs} ms)",
                status.ExpectedItems, status.ExpectedBatches, status.StagedBatches, elapsedMs);
        }
        else if (status.ExpectedItems != request.ExpectedItems || status.ExpectedBatches != request.ExpectedBatches)
        {
            logger.LogWarning(
                "a repeated flush request announced {ExpectedItems} items in {ExpectedBatches} batches, but the first request "
                + "({StoredItems} items in {StoredBatches} batches) stands; if the scraper's totals changed, run it again as a new run",
                request.ExpectedItems, request.ExpectedBatches, status.ExpectedItems, status.ExpectedBatches);
        }
        else
        {
            logger.LogInformation(
                "flush requested again (redelivery): expecting {ExpectedItems} items in {ExpectedBatches} batches; {StagedBatches} batches staged so far ({ElapsedMs} ms)",
                status.ExpectedItems, status.ExpectedBatches, status.StagedBatches, elapsedMs);
        }

        await FlushVerdictLog.PublishAsync(status, context, logger, context.CancellationToken);
    }
}
