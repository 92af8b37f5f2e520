using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Logging;
using RunSaga.Contracts;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Promotion;

/// <summary>
/// Promotes a flushed run into <c>projects</c> and answers with <see cref="ProjectsUpserted"/>. A failure is
/// not caught: transient ones are retried by the endpoint, anything else faults (<c>Fault&lt;PromoteRun&gt;</c>,
/// which fails the run with PROMOTION_FAILED) after a rollback that left <c>projects</c> untouched.
/// </summary>
public sealed class PromoteRunConsumer(RunPromoter promoter, ILogger<PromoteRunConsumer> logger) : IConsumer<PromoteRun>
{
    public async Task Consume(ConsumeContext<PromoteRun> context)
    {
        var command = context.Message;
        using var _ = RunLogScope.Begin(command.RunId, command.Source);

        if (string.IsNullOrEmpty(command.Source))
        {
            throw new InvalidMessageException(
                $"PromoteRun for run {command.RunId} names no source; the run saga must know the run's source before it promotes.");
        }

        var stopwatch = Stopwatch.StartNew();
        PromotionResult result;
        try
        {
            result = await promoter.PromoteAsync(
                command.RunId, command.Source, ProcessType.IsFull(ProcessType.OrDefault(command.ProcessType)), context.CancellationToken);
        }
        catch (Exception exception) when (!TransientDatabaseErrors.IsTransient(exception))
        {
            logger.LogError(exception,
                "promotion failed and was rolled back: projects is exactly as before this run. The run fails with "
                + "PROMOTION_FAILED; fix the cause shown here (a constraint, a trigger, a bad item in runsaga.staged_items "
                + "for this run) and run the scraper again");
            throw;
        }

        if (result.Cancelled)
        {
            logger.LogWarning("the run was cancelled before its promotion started: nothing promoted, projects unchanged");
            return;
        }

        var counts = result.Counts;
        if (result.AlreadyPromoted)
        {
            logger.LogInformation(
                "already promoted; republishing the recorded counts: {Inserted} inserted, {Updated} updated, {Unchanged} unchanged, {Errored} errored",
                counts.Inserted, counts.Updated, counts.Unchanged, counts.Errored);
        }
        else
        {
            logger.LogInformation(
                "promoted ({ProcessType}): {Inserted} inserted, {Updated} updated, {Unchanged} unchanged, {Errored} errored in {ElapsedMs} ms",
                command.ProcessType, counts.Inserted, counts.Updated, counts.Unchanged, counts.Errored, stopwatch.ElapsedMilliseconds);
        }

        await context.Publish(new ProjectsUpserted
        {
            RunId = command.RunId,
            Inserted = counts.Inserted,
            Updated = counts.Updated,
            Unchanged = counts.Unchanged,
            Errored = counts.Errored,
        }, context.CancellationToken);
    }
}
