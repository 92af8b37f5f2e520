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
    public static BatchRejected? Check(ItemsScraped batch, long bodyBytes, RunSagaOptions options)
    {
        if (string.IsNullOrWhiteSpace(batch.BatchId))
        {
            return Rejected(batch, InvalidBatch,
                "the batch has no batchId; every ItemsScraped message needs a batchId unique within its run "
                + "(the scraper's own batch id, or its sequence number). Republish the batch with one.");
        }

        if (batch.BatchId.Contains('\0', StringComparison.Ordinal))
        {
            return Rejected(batch, InvalidBatch,
                "the batchId contains a NUL character, which PostgreSQL cannot store; republish the batch with a printable batchId.");
        }

        if (batch.BatchId.Length > MaxBatchIdLength)
        {
            return Rejected(batch, InvalidBatch,
                $"the batchId is {batch.BatchId.Length} characters long; the limit is {MaxBatchIdLength}. Republish the batch with a shorter batchId.");
        }

        if (batch.Items is null)
        {
            return Rejected(batch, InvalidBatch,
                $"batch {batch.BatchId} has no items list (items is null); send \"items\": [] for an empty batch.");
        }

        if (batch.Items.Count > options.MaxBatchItems || bodyBytes > options.MaxBatchBytes)
        {
            return Rejected(batch, BatchTooLarge,
                $"batch {batch.BatchId} has {batch.Items.Count} items / {bodyBytes} bytes; the limit is "
                + $"{options.MaxBatchItems} items / {options.MaxBatchBytes} bytes (MAX_BATCH_ITEMS / MAX_BATCH_BYTES): "
                + "split it into smaller batches");
        }

        return null;
    }

    private static BatchRejected Rejected(ItemsScraped batch, string code, string message) => new()
    {
        RunId = batch.RunId,
        // Echoed for the saga and operators: short, and with NUL made visible.
        BatchId = batch.BatchId is null ? string.Empty
            : (batch.BatchId.Length > MaxBatchIdLength ? batch.BatchId[..MaxBatchIdLength] : batch.BatchId).Replace('\0', '\u2400'),
        ErrorCode = code,
        ErrorMessage = message,
    };
}
