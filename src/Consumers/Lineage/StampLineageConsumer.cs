using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Logging;
using Npgsql;
using RunSaga.Contracts;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Lineage;

/// <summary>
/// Records the run's lineage summary and answers with <see cref="LineageStamped"/>. Idempotent by run id. Only a run
/// the ledger shows promoted is stamped, with the source and process type of its ledger row.
/// </summary>
public sealed class StampLineageConsumer(LineageStamper stamper, NpgsqlDataSource dataSource, ILogger<StampLineageConsumer> logger)
    : IConsumer<StampLineage>
{
    public async Task Consume(ConsumeContext<StampLineage> context)
    {
        var command = context.Message;
        var run = await LedgerRun.ReadAsync(dataSource, command.RunId, context.CancellationToken);
        using var _ = RunLogScope.Begin(command.RunId, run?.Source ?? command.Source);
        if (run is null || !run.Promoted)
        {
            throw new InvalidMessageException(run is null
                ? $"StampLineage refused: runsaga.runs has no run {command.RunId}."
                : $"StampLineage refused: run {command.RunId} ({run.SagaState}) was never promoted; lineage follows a promotion.");
        }

        var stopwatch = Stopwatch.StartNew();
        var summary = await stamper.StampAsync(run.Id, run.Source, run.ProcessType, context.CancellationToken);

        logger.LogInformation(
            "{What}: {Discovered} discovered, {Updated} updated, {Deleted} deleted, {Errored} errored, {Unchanged} unchanged from {BatchCount} batches in {ElapsedMs} ms",
            summary.AlreadyStamped ? "lineage already stamped; republishing" : "lineage stamped",
            summary.Discovered, summary.Updated, summary.Deleted, summary.Errored, summary.Unchanged, summary.BatchIds.Count,
            stopwatch.ElapsedMilliseconds);

        await context.Publish(new LineageStamped { RunId = command.RunId }, context.CancellationToken);
    }
}
