using MassTransit;
using Microsoft.Extensions.Logging;
using RunSaga.Contracts;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Retention;

/// <summary>
/// The operator's commands on one run — <see cref="ArchiveRun"/>, <see cref="DeleteRun"/>, <see cref="UndeleteRun"/>,
/// <see cref="PinRun"/>, <see cref="RestoreRun"/> — carried out by <see cref="RunArtifacts"/>; each publishes what it did,
/// or <see cref="RetentionFailed"/> with why nothing changed. On the retention queue, beside <see cref="RetentionConsumer"/>.
/// </summary>
public sealed class RunCommandsConsumer(RunArtifacts artifacts, ILogger<RunCommandsConsumer> logger) :
    IConsumer<ArchiveRun>,
    IConsumer<DeleteRun>,
    IConsumer<UndeleteRun>,
    IConsumer<PinRun>,
    IConsumer<RestoreRun>
{
    public Task Consume(ConsumeContext<ArchiveRun> context) =>
        RunCommandAsync(context, context.Message.RunId, "ArchiveRun", async cancellationToken =>
        {
            var result = await artifacts.ArchiveAsync(context.Message.RunId, manual: true, cancellationToken, context.SentTime);
            artifacts.Log(result);
            if (result.Outcome == ArtifactOutcome.Archived)
            {
                await context.Publish(
                    new RunArchived { RunId = result.RunId, Source = result.Source, ArchivePath = result.ArchivePath!, Items = result.Items, Batches = result.Batches },
                    cancellationToken);
            }
        });

    public Task Consume(ConsumeContext<DeleteRun> context) =>
        RunCommandAsync(context, context.Message.RunId, "DeleteRun", async cancellationToken =>
        {
            var message = context.Message;
            if (string.IsNullOrWhiteSpace(message.Reason) || string.IsNullOrWhiteSpace(message.RequestedBy))
            {
                throw new RetentionRefusedException("DeleteRun needs a reason and requestedBy: both go into runsaga.run_audit");
            }

            var result = await artifacts.DeleteAsync(message.RunId, message.Reason, message.RequestedBy, manual: true, cancellationToken,
                BrokerIdentity.PublisherOf(context.ReceiveContext));
            if (result.Outcome == ArtifactOutcome.Deleted)
            {
                await context.Publish(
                    new RunDeleted { RunId = result.RunId, Source = result.Source, Strategy = result.Detail!, Reason = message.Reason, RequestedBy = message.RequestedBy },
                    cancellationToken);
            }
        });

    public Task Consume(ConsumeContext<UndeleteRun> context) =>
        RunCommandAsync(context, context.Message.RunId, "UndeleteRun", async cancellationToken =>
        {
            var requestedBy = context.Message.RequestedBy ?? "an unnamed sender";
            var result = await artifacts.UndeleteAsync(context.Message.RunId, requestedBy, cancellationToken, BrokerIdentity.PublisherOf(context.ReceiveContext));
            artifacts.Log(result);
            await context.Publish(
                new RunUndeleted { RunId = result.RunId, Source = result.Source, ArchivePath = result.ArchivePath!, RequestedBy = requestedBy },
                cancellationToken);
        });

    public Task Consume(ConsumeContext<RestoreRun> context) =>
        RunCommandAsync(context, context.Message.RunId, "RestoreRun", async cancellationToken =>
        {
            var result = await artifacts.RestoreAsync(context.Message.RunId, cancellationToken);
            artifacts.Log(result);
            await context.Publish(
                new RunRestored { RunId = result.RunId, Source = result.Source, Items = result.Items, Batches = result.Batches },
                cancellationToken);
        });

    public Task Consume(ConsumeContext<PinRun> context) =>
        RunCommandAsync(context, context.Message.RunId, "PinRun", async cancellationToken =>
        {
            var until = context.Message.Until;
            var source = await artifacts.PinAsync(context.Message.RunId, until, cancellationToken);
            using var scope = RunLogScope.Begin(context.Message.RunId, source);
            logger.LogInformation(
                until is null ? "Run unpinned by {RequestedBy}" : "Run pinned until {Until:O} by {RequestedBy}; retention leaves its artifacts until then",
                context.Message.RequestedBy ?? "(unnamed)", until);
            await context.Publish(new RunPinned { RunId = context.Message.RunId, Until = until }, cancellationToken);
        });

    /// <summary>
    /// An operator's command on one run: a refusal or a lasting error (say, ARCHIVE_BASE_PATH not writable) is
    /// logged and published as <see cref="RetentionFailed"/>; transient database errors go to the retry policy.
    /// </summary>
    private async Task RunCommandAsync(ConsumeContext context, Guid runId, string command, Func<CancellationToken, Task> action)
    {
        try
        {
            await action(context.CancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && !TransientDatabaseErrors.IsTransient(ex))
        {
            using var scope = RunLogScope.Begin(runId, null);
            if (ex is RetentionRefusedException)
            {
                logger.LogWarning("{Command} refused, nothing changed: {Reason}", command, ex.Message);
            }
            else
            {
                logger.LogError(ex, "{Command} failed and was rolled back: {Reason}", command, ex.Message);
            }

            await context.Publish(new RetentionFailed { RunId = runId, Reason = $"{command}: {ex.Message}" }, context.CancellationToken);
        }
    }
}
