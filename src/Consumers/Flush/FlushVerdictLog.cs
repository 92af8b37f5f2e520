using MassTransit;
using Microsoft.Extensions.Logging;

namespace RunSaga.Consumers.Flush;

/// <summary>Logs and publishes a flush verdict, the same way from the flush and the staging consumers.</summary>
internal static class FlushVerdictLog
{
    /// <summary>Call only after the transaction that produced <paramref name="status"/> has committed.</summary>
    public static async Task PublishAsync(
        FlushStatus? status, IPublishEndpoint publish, ILogger logger, CancellationToken cancellationToken)
    {
        if (status?.Verdict is not { } verdict)
        {
            return;
        }

        if (verdict.Confirmed is { } confirmed)
        {
            logger.LogInformation(
                "flush confirmed: {StagedBatches} batches staged with {StagedItems} distinct items",
                confirmed.StagedBatches, confirmed.StagedItems);
        }
        else
        {
            logger.LogWarning("flush failed ({ErrorCode}): {ErrorMessage}", verdict.Failed!.ErrorCode, verdict.Failed.ErrorMessage);
        }

        await verdict.PublishAsync(publish, cancellationToken);
    }
}
