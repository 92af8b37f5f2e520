using RunSaga.Contracts;
using RunSaga.Shared.Hosting;

namespace RunSaga.Consumers.Staging;

/// <summary>
/// Whole-batch rules, checked before anything is staged: a batch that breaks one is refused entirely with
/// <see cref="BatchRejected"/> (which fails the run), and nothing of it is staged.
/// </summary>
public static class BatchLimits
{
    public const string BatchTooLarge = "BATCH_TOO_LARGE";
    public const string InvalidBatch = "INVALID_BATCH";
    public const int MaxBatchIdLength = 256;

    /// <param name="bodyBytes">The size of the message body as received.</param>
    public static BatchRejected? Check(ItemsScraped batch, long bodyBytes, RunSagaOptions options) =>
        Check(batch.RunId, batch.BatchId, batch.Items?.Count, bodyBytes, options);

    /// <param name="itemCount">Items in the batch; null when its <c>items</c> is null.</param>
    /// <param name="bodyBytes">The size of the message body as received.</param>
    public static BatchRejected? Check(Guid runId, string? batchId, int? itemCount, long bodyBytes, RunSagaOptions options)
    {
        if (string.IsNullOrWhiteSpace(batchId))
        {
            return Rejected(runId, batchId, InvalidBatch,
                "the batch has no batchId; every ItemsScraped message needs a batchId unique within its run "
                + "(the scraper's own batch id, or its sequence number). Republish the batch with one.");
        }

        if (batchId.Contains('\0', StringComparison.Ordinal))
        {
            return Rejected(runId, batchId, InvalidBatch,
                "the batchId contains a NUL character, which PostgreSQL cannot store; republish the batch with a printable batchId.");
        }

        if (batchId.Length > MaxBatchIdLength)
        {
            return Rejected(runId, batchId, InvalidBatch,
                $"the batchId is {batchId.Length} characters long; the limit is {MaxBatchIdLength}. Republish the batch with a shorter batchId.");
        }

        if (itemCount is not { } count)
        {
            return Rejected(runId, batchId, InvalidBatch,
                $"batch {batchId} has no items list (items is null); send \"items\": [] for an empty batch.");
        }

        if (count > options.MaxBatchItems || bodyBytes > options.MaxBatchBytes)
        {
            return Rejected(runId, batchId, BatchTooLarge,
                $"batch {batchId} has {count} items / {bodyBytes} bytes; the limit is "
                + $"{options.MaxBatchItems} items / {options.MaxBatchBytes} bytes (MAX_BATCH_ITEMS / MAX_BATCH_BYTES): "
                + "split it into smaller batches");
        }

        return null;
    }

    private static BatchRejected Rejected(Guid runId, string? batchId, string code, string message) => new()
    {
        RunId = runId,
        // Echoed for the saga and operators: short, and with NUL made visible.
        BatchId = batchId is null ? string.Empty
            : (batchId.Length > MaxBatchIdLength ? batchId[..MaxBatchIdLength] : batchId).Replace('\0', '\u2400'),
        ErrorCode = code,
        ErrorMessage = message,
    };
}
