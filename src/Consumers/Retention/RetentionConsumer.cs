using MassTransit;
using Microsoft.Extensions.Logging;
using RunSaga.Contracts;
using RunSaga.Shared.Hosting;

namespace RunSaga.Consumers.Retention;

/// <summary>
/// Retention's entry points: after every completed run of a source, on a scheduled or manual
/// <see cref="ApplyRetention"/> (one source or all), and an operator's <see cref="ReleaseRetention"/>.
/// Each cycle is recorded in <c>runsaga.retention_cycles</c>; its outcome is published.
/// </summary>
public sealed class RetentionConsumer(SourcePruner pruner, ILogger<RetentionConsumer> logger) :
    IConsumer<RunCompleted>,
    IConsumer<ApplyRetention>,
    IConsumer<ReleaseRetention>
{
    public Task Consume(ConsumeContext<RunCompleted> context) =>
        Prune(context, context.Message.Source, "run-completed", context.Message.RunId, dryRun: false);

    public async Task Consume(ConsumeContext<ApplyRetention> context)
    {
        var trigger = context.Message.RequestedBy is null ? "scheduled" : "manual";
        var sources = context.Message.Source is { Length: > 0 } one
            ? [one]
            : await pruner.SourcesAsync(context.CancellationToken);
        foreach (var source in sources)
        {
            await Prune(context, source, trigger, null, context.Message.DryRun);
        }
    }

    public async Task Consume(ConsumeContext<ReleaseRetention> context)
    {
        await pruner.ReleaseAsync(context.Message.Source, context.Message.ReleasedBy, context.CancellationToken);
        using var scope = RunLogScope.Begin(Guid.Empty, context.Message.Source);
        logger.LogWarning("Retention released by {ReleasedBy}; runs completed before now no longer withhold it", context.Message.ReleasedBy ?? "(unnamed)");
    }

    private async Task Prune(ConsumeContext context, string source, string trigger, Guid? runId, bool dryRun)
    {
        using var scope = RunLogScope.Begin(runId ?? Guid.Empty, source);
        var result = await pruner.PruneAsync(source, trigger, runId, dryRun, context.CancellationToken);
        switch (result.Outcome)
        {
            case "failed":
                logger.LogError("Retention cycle {CycleId} failed and was rolled back, nothing deleted: {Reason}", result.CycleId, result.Reason);
                await context.Publish(new RetentionFailed { Source = source, Reason = result.Reason ?? "unknown error" }, context.CancellationToken);
                return;
            case "withheld":
                logger.LogWarning("Retention cycle {CycleId} withheld: {Reason}", result.CycleId, result.Reason);
                await context.Publish(
                    new RetentionWithheld { Source = source, RunId = result.WithheldBy ?? Guid.Empty, Reason = result.Reason! },
                    context.CancellationToken);
                break;
            case "skipped":
                logger.LogInformation("Retention cycle {CycleId} pruned nothing: {Reason}", result.CycleId, result.Reason);
                break;
            default:
                logger.LogInformation("Retention cycle {CycleId} {Verb} {Deleted} stale items (first: {Sample})",
                    result.CycleId, dryRun ? "would delete" : "deleted", result.ProjectsDeleted, string.Join(", ", result.SampleKeys.Take(5)));
                break;
        }

        await context.Publish(new RetentionApplied
        {
            Source = source,
            RunId = result.AppliedBy,
            ProjectsDeleted = result.ProjectsDeleted,
            DryRun = dryRun,
            SkippedBecause = result.Outcome == "succeeded" ? null : result.Reason,
        }, context.CancellationToken);
    }
}
