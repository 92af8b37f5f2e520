using RunSaga.Contracts;
using RunSaga.Shared.Messaging.Outbox;

namespace RunSaga.Consumers.Retention;

/// <summary>
/// What a finished retention cycle announces: <see cref="RetentionFailed"/> for a failed cycle; otherwise
/// <see cref="RetentionApplied"/>, preceded by <see cref="RetentionWithheld"/> when a suspicious run held the source back.
/// Written to the outbox with the cycle's outcome (see <see cref="SourcePruner"/>).
/// </summary>
public static class RetentionEvents
{
    public static IReadOnlyList<OutboxEntry> Of(PruneResult result, bool dryRun)
    {
        if (result.Outcome == CycleOutcome.Failed)
        {
            return [OutboxEntry.Event(new RetentionFailed { Source = result.Source, Reason = result.Reason ?? "unknown error" }, null)];
        }

        var applied = OutboxEntry.Event(new RetentionApplied
        {
            Source = result.Source,
            RunId = result.AppliedBy,
            ProjectsDeleted = result.ProjectsDeleted,
            RunsArchived = result.RunsArchived,
            RunsDeleted = result.RunsDeleted,
            DryRun = dryRun,
            SkippedBecause = result.Outcome == CycleOutcome.Succeeded ? null : result.Reason,
            Outcome = result.Outcome.DbName(),
        }, result.Outcome == CycleOutcome.Withheld ? result.WithheldBy : result.AppliedBy);

        // A withheld cycle's two events share a run, so they are delivered in this order.
        return result.Outcome == CycleOutcome.Withheld
            ? [OutboxEntry.Event(new RetentionWithheld { Source = result.Source!, RunId = result.WithheldBy ?? Guid.Empty, Reason = result.Reason! }, result.WithheldBy), applied]
            : [applied];
    }
}
