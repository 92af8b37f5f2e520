using MassTransit;
using Microsoft.Extensions.Logging;
using RunSaga.Contracts;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Retention;

/// <summary>
/// Retention cycles. After every completed run its source is pruned. A scheduled or manual <see cref="ApplyRetention"/>
/// (one source or all) archives and deletes due run artifacts and purges the trash (<see cref="ArtifactCycle"/>), then
/// prunes; each source's cycle is recorded in <c>runsaga.retention_cycles</c>, and its outcome announced in the same
/// transaction through the outbox (<see cref="RetentionEvents"/>).
/// <see cref="ReleaseRetention"/> lets a withheld source be pruned again. Commands on one run are
/// <see cref="RunCommandsConsumer"/>'s.
/// </summary>
public sealed class RetentionConsumer(SourcePruner pruner, ArtifactCycle cycle, ILogger<RetentionConsumer> logger) :
    IConsumer<RunCompleted>,
    IConsumer<ApplyRetention>,
    IConsumer<ReleaseRetention>
{
    public async Task Consume(ConsumeContext<RunCompleted> context)
    {
        var result = await pruner.PruneAsync(context.Message.Source, "run-completed", context.Message.RunId, dryRun: false, context.CancellationToken,
            BrokerIdentity.PublisherOf(context.ReceiveContext));
        Report(result, context.Message.RunId, dryRun: false);
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
                cycle.PhasesFor(source, message.DryRun),
                context.CancellationToken,
                message.RequestedBy,
                BrokerIdentity.PublisherOf(context.ReceiveContext));
            Report(result, null, message.DryRun);
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

    /// <summary>Logs the cycle's outcome; its events went to the outbox with the outcome (<see cref="RetentionEvents"/>).</summary>
    private void Report(PruneResult result, Guid? runId, bool dryRun)
    {
        using var scope = RunLogScope.Begin(runId ?? Guid.Empty, result.Source);
        switch (result.Outcome)
        {
            case CycleOutcome.Failed:
                logger.LogError(
                    "Retention cycle {CycleId} failed and stopped there ({Archived} runs archived before the error; nothing deleted after it): {Reason}",
                    result.CycleId, result.RunsArchived, result.Reason);
                return;
            case CycleOutcome.Withheld:
                logger.LogWarning("Retention cycle {CycleId} withheld: {Reason}", result.CycleId, result.Reason);
                break;
            case CycleOutcome.Skipped:
                logger.LogInformation("Retention cycle {CycleId} pruned nothing: {Reason}", result.CycleId, result.Reason);
                break;
            case CycleOutcome.Succeeded when result.Source is null:
                logger.LogInformation("Retention cycle {CycleId} for runs without a source: no items to prune", result.CycleId);
                break;
            case CycleOutcome.Succeeded when result.ProjectsDeleted == 0:
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
    }
}
