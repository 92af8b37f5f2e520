using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Logging;
using RunSaga.Contracts;
using RunSaga.Shared.Hosting;

namespace RunSaga.Consumers.Flush;

/// <summary>
/// Records the saga's flush request and answers as soon as the staged batches allow a verdict. When batches
/// are still missing it answers nothing: the staging consumer publishes the verdict when the last one lands.
/// </summary>
public sealed class FlushRunConsumer(FlushRequests flushRequests, ILogger<FlushRunConsumer> logger) : IConsumer<FlushRun>
{
    public async Task Consume(ConsumeContext<FlushRun> context)
    {
        var request = context.Message;
        using var _ = RunLogScope.Begin(request.RunId, source: null);

        var stopwatch = Stopwatch.StartNew();
        var (first, status) = await flushRequests.RequestAsync(request, context.CancellationToken);
        var elapsedMs = stopwatch.ElapsedMilliseconds;

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
