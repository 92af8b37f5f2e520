using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RunSaga.Consumers.Flush;
using RunSaga.Contracts;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Staging;

/// <summary>
/// Stages a batch of scraped items without waiting for the run's saga. A batch that breaks a whole-batch rule
/// is refused with <see cref="BatchRejected"/>; invalid items are counted and listed, the rest is staged. When
/// the run's flush was requested, answers with its verdict once the transaction has committed.
/// </summary>
public sealed class StageItemsConsumer(
    BatchStager stager,
    IOptions<RunSagaOptions> options,
    ILogger<StageItemsConsumer> logger) : IConsumer<ItemsScraped>
{
    public async Task Consume(ConsumeContext<ItemsScraped> context)
    {
        var batch = context.Message;
        if (batch.RunId == Guid.Empty)
        {
            throw new InvalidMessageException(
                "An ItemsScraped message has no runId (or the empty guid); the scraper must send the runId of its run "
                + "(a dashed guid, e.g. \"3f2504e0-4f89-11d3-9a0c-0305e82c3301\").");
        }

        using var run = RunLogScope.Begin(batch.RunId, source: null);

        // The items are read from the body as received, once (the staging endpoint's deserializer left them out of
        // context.Message); an items array that is not JSON throws here, and the batch is unreadable.
        var items = BatchItemsDeserializer.ItemsOf(context.ReceiveContext);
        var validated = items.Kind switch
        {
            ItemsKind.Array => BatchValidation.Validate(items.Json, items.Depth),
            ItemsKind.Absent or ItemsKind.Null => new ValidatedBatch([], [], 0, 0),
            _ => throw new System.Text.Json.JsonException("items must be a JSON array of items (docs/wire-format.md)"),
        };

        if (BatchLimits.Check(batch.RunId, batch.BatchId, items.Kind == ItemsKind.Null ? null : validated.ItemCount, items.Body.Length, options.Value) is { } rejected)
        {
            using var refused = RunLogScope.Begin(batch.RunId, await stager.SourceOfAsync(batch.RunId, context.CancellationToken));
            logger.LogWarning(
                "batch {BatchId} refused whole ({ErrorCode}), nothing of it staged: {ErrorMessage}",
                rejected.BatchId, rejected.ErrorCode, rejected.ErrorMessage);
            await context.Publish(rejected, context.CancellationToken);
            return;
        }

        var stopwatch = Stopwatch.StartNew();
        var result = await stager.StageAsync(batch.RunId, batch.BatchId, validated, context.CancellationToken, context.MessageId, context.SentTime);
        var elapsedMs = stopwatch.ElapsedMilliseconds;
        using var withSource = RunLogScope.Begin(batch.RunId, result.Source);

        if (result.AlreadyStaged)
        {
            logger.LogInformation(
                "batch {BatchId} already staged, or the run is past its flush (flushed, completed, failed or cancelled) or its artifacts are archived or deleted; ignored ({ElapsedMs} ms)", batch.BatchId, elapsedMs);
        }
        else
        {
            logger.LogInformation(
                "batch {BatchId} staged: {ItemCount} items, {Staged} new keys, {Duplicates} duplicates, {Rejected} rejected in {ElapsedMs} ms",
                batch.BatchId, result.ItemCount, result.Staged, result.Duplicates, result.Rejections.Count, elapsedMs);
            if (result.Rejections.Count > 0)
            {
                var first = result.Rejections[0];
                logger.LogWarning(
                    "batch {BatchId}: {Rejected} items rejected (first: key {Key}: {Reason}); the scraper must fix them. "
                    + "All are listed in runsaga.staged_batches.rejections for this run and batch",
                    batch.BatchId, result.Rejections.Count, string.IsNullOrEmpty(first.Key) ? "(none)" : first.Key, first.Reason);
            }
        }

        await FlushVerdictLog.PublishAsync(result.Flush, context, logger, context.CancellationToken);
    }
}
