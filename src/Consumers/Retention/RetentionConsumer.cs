using MassTransit;
using Microsoft.Extensions.Logging;
using RunSaga.Contracts;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Retention;

/// <summary>
/// Retention's entry points. After every completed run its source is pruned. A scheduled or manual
/// <see cref="ApplyRetention"/> (one source or all) archives and deletes due run artifacts, then prunes; each
/// source's cycle is recorded in <c>runsaga.retention_cycles</c> and its outcome published. The operator's
/// commands — <see cref="ReleaseRetention"/>, <see cref="ArchiveRun"/>, <see cref="DeleteRun"/>,
/// <see cref="PinRun"/>, <see cref="RestoreRun"/> — act on one source or run and publish what they did.
/// </summary>
public sealed class RetentionConsumer(SourcePruner pruner, RunArtifacts artifacts, ILogger<RetentionConsumer> logger) :
    IConsumer<RunCompleted>,
    IConsumer<ApplyRetention>,
    IConsumer<ReleaseRetention>,
    IConsumer<ArchiveRun>,
    IConsumer<DeleteRun>,
    IConsumer<PinRun>,
    IConsumer<RestoreRun>
{
    public async Task Consume(ConsumeContext<RunCompleted> context)
    {
        var result = await pruner.PruneAsync(context.Message.Source, "run-completed", context.Message.RunId, dryRun: false, context.CancellationToken);
        await ReportAsync(context, result, context.Message.RunId, dryRun: false);
    }

    public async Task Consume(ConsumeContext<ApplyRetention> context)
    {
        var message = context.Message;
        var trigger = string.IsNullOrEmpty(message.RequestedBy) ? "scheduled" : "manual";
        // Without a source: every source, and (null) the runs without one and staging of run ids never named.
        var sources = message.Source is { Length: > 0 } one
            ? [one]
            : (await pruner.SourcesAsync(context.CancellationToken)).Where(s => s is not null).Append(null).ToList();
        var continueWith = new List<string?>();
        foreach (var source in sources)
        {
            var result = await pruner.RunCycleAsync(
                source, trigger, null, message.DryRun,
                artifacts.PhasesFor(source, message.DryRun),
                context.CancellationToken);
            await ReportAsync(context, result, null, message.DryRun);
            if (result.MoreDue)
            {
                continueWith.Add(source);
            }
        }

        // Bounded batches: what one message left is carried on by the next, one per source (a message without a
        // source covers the runs that never got one, and goes through every source again, which is idempotent).
        foreach (var source in continueWith.Distinct())
        {
            await context.Publish(new ApplyRetention { Source = source, RequestedBy = message.RequestedBy }, context.CancellationToken);
        }
    }

    public async Task Consume(ConsumeContext<ReleaseRetention> context)
    {
        await pruner.ReleaseAsync(context.Message.Source, context.Message.ReleasedBy, context.CancellationToken);
        using var scope = RunLogScope.Begin(Guid.Empty, context.Message.Source);
        logger.LogWarning("Retention released by {ReleasedBy}; runs completed before now no longer withhold it", context.Message.ReleasedBy ?? "(unnamed)");
    }

    public Task Consume(ConsumeContext<ArchiveRun> context) =>
        RunCommandAsync(context, context.Message.RunId, "ArchiveRun", async cancellationToken =>
        {
            var result = await artifacts.ArchiveAsync(context.Message.RunId, manual: true, cancellationToken);
            artifacts.Log(result);
            if (result.Outcome == "archived")
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

            var result = await artifacts.DeleteAsync(message.RunId, message.Reason, message.RequestedBy, manual: true, cancellationToken);
            artifacts.Log(result);
            if (result.Outcome == "deleted")
            {
                await context.Publish(
                    new RunDeleted { RunId = result.RunId, Source = result.Source, Strategy = result.Detail!, Reason = message.Reason, RequestedBy = message.RequestedBy },
                    cancellationToken);
            }
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

    private async Task ReportAsync(ConsumeContext context, PruneResult result, Guid? runId, bool dryRun)
    {
        using var scope = RunLogScope.Begin(runId ?? Guid.Empty, result.Source);
        switch (result.Outcome)
        {
            case "failed":
                logger.LogError(
                    "Retention cycle {CycleId} failed and stopped there ({Archived} runs archived before the error; nothing deleted after it): {Reason}",
                    result.CycleId, result.RunsArchived, result.Reason);
                await context.Publish(new RetentionFailed { Source = result.Source, Reason = result.Reason ?? "unknown error" }, context.CancellationToken);
                return;
            case "withheld":
                logger.LogWarning("Retention cycle {CycleId} withheld: {Reason}", result.CycleId, result.Reason);
                await context.Publish(
                    new RetentionWithheld { Source = result.Source!, RunId = result.WithheldBy ?? Guid.Empty, Reason = result.Reason! },
                    context.CancellationToken);
                break;
            case "skipped":
                logger.LogInformation("Retention cycle {CycleId} pruned nothing: {Reason}", result.CycleId, result.Reason);
                break;
            case "succeeded" when result.Source is null:
                logger.LogInformation("Retention cycle {CycleId} for runs without a source: no items to prune", result.CycleId);
                break;
            case "succeeded" when result.ProjectsDeleted == 0:
                logger.LogInformation("Retention cycle {CycleId} found no stale items", result.CycleId);
                break;
            default:
                logger.LogInformation("Retention cycle {CycleId} {Verb} {Deleted} stale items (first: {Sample})",
                    result.CycleId, dryRun ? "would delete" : "deleted", result.ProjectsDeleted, string.Join(", ", result.SampleKeys.Take(5)));
                break;
        }

        if (result.RunsArchived + result.RunsDeleted > 0)
        {
            logger.LogInformation("Retention cycle {CycleId} {Verb} {Archived} runs and {Verb2} {RunsDeleted}",
                result.CycleId, dryRun ? "would archive" : "archived", result.RunsArchived, dryRun ? "would delete" : "deleted", result.RunsDeleted);
        }

        await context.Publish(new RetentionApplied
        {
            Source = result.Source,
            RunId = result.AppliedBy,
            ProjectsDeleted = result.ProjectsDeleted,
            RunsArchived = result.RunsArchived,
            RunsDeleted = result.RunsDeleted,
            DryRun = dryRun,
            SkippedBecause = result.Outcome == "succeeded" ? null : result.Reason,
            Outcome = result.Outcome,
        }, context.CancellationToken);
    }
}
