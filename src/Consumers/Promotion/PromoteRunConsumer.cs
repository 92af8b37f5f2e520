using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Logging;
using Npgsql;
using RunSaga.Contracts;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Promotion;

/// <summary>
/// Promotes a flushed run into <c>projects</c>, records its lineage summary in the same transaction, and answers with
/// <see cref="ProjectsUpserted"/> (<c>LineageRecorded</c>: the saga completes the run without a <c>StampLineage</c>). A failure is
/// not caught: transient ones are retried by the endpoint, anything else faults (<c>Fault&lt;PromoteRun&gt;</c>,
/// which fails the run with PROMOTION_FAILED) after a rollback that left <c>projects</c> untouched.
/// </summary>
/// <para>
/// The ledger decides, not the command: only a run that <c>runsaga.runs</c> shows <c>Flushed</c> (or one promoted
/// before, whose counts are republished) is promoted, into the source and with the process type of its row.
/// </para>
public sealed class PromoteRunConsumer(
    RunPromoter promoter, NpgsqlDataSource dataSource, CrashPoint crashPoint, ILogger<PromoteRunConsumer> logger)
    : IConsumer<PromoteRun>
{
    public async Task Consume(ConsumeContext<PromoteRun> context)
    {
        var command = context.Message;
        var run = await LedgerRun.ReadAsync(dataSource, command.RunId, context.CancellationToken);
        using var _ = RunLogScope.Begin(command.RunId, run?.Source ?? command.Source);

        if (run is { Promoted: false } && RunStatus.IsFinal(RunStatus.Public(run.SagaState)))
        {
            // A late or repeated command for a run that ended before its promotion (cancelled, failed): nothing to do.
            logger.LogWarning("PromoteRun ignored: the run ended {SagaState} before its promotion; projects unchanged", run.SagaState);
            return;
        }

        if (run is null || run.Source is not { Length: > 0 } || (run.SagaState != RunStatus.Flushed && !run.Promoted))
        {
            throw new InvalidMessageException(run is null
                ? $"PromoteRun refused: runsaga.runs has no run {command.RunId}; only a flushed run is promoted."
                : $"PromoteRun refused: runsaga.runs shows run {command.RunId} {run.SagaState}, not Flushed; only a flushed run is promoted.");
        }

        if (!run.Promoted && run.UnannouncedBatches > 0)
        {
            // Staged in the moment between the flush's verdict and the saga recording Flushed: the flush did not count
            // them, so the run as flushed is not what staging holds. The run fails PROMOTION_FAILED; projects is untouched.
            throw new InvalidMessageException(
                $"PromoteRun refused: {run.UnannouncedBatches} batches of run {run.Id} were staged after its flush counted the others "
                + "(not in runsaga.runs.batch_ids); promoting them would promote what the flush did not confirm. Run the scraper again.");
        }

        if (!string.Equals(command.Source, run.Source, StringComparison.Ordinal)
            || !string.Equals(ProcessType.OrDefault(command.ProcessType), run.ProcessType, StringComparison.Ordinal))
        {
            logger.LogWarning(
                "PromoteRun named source {CommandSource} and process type {CommandProcessType}; the ledger's {Source}/{ProcessType} are used",
                command.Source, command.ProcessType, run.Source, run.ProcessType);
        }

        var stopwatch = Stopwatch.StartNew();
        PromotionResult result;
        try
        {
            result = await promoter.PromoteAsync(run.Id, run.Source, run.ProcessType, context.CancellationToken);
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

        crashPoint.Reached("promotion-committed", run.Source);
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
                run.ProcessType, counts.Inserted, counts.Updated, counts.Unchanged, counts.Errored, stopwatch.ElapsedMilliseconds);
        }

        await context.Publish(new ProjectsUpserted
        {
            RunId = command.RunId,
            Inserted = counts.Inserted,
            Updated = counts.Updated,
            Unchanged = counts.Unchanged,
            Errored = counts.Errored,
            LineageRecorded = true,
        }, context.CancellationToken);
    }
}
