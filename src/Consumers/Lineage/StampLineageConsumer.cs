using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Logging;
using RunSaga.Contracts;
using RunSaga.Shared.Hosting;

namespace RunSaga.Consumers.Lineage;

/// <summary>Records the run's lineage summary and answers with <see cref="LineageStamped"/>. Idempotent by run id.</summary>
public sealed class StampLineageConsumer(LineageStamper stamper, ILogger<StampLineageConsumer> logger) : IConsumer<StampLineage>
{
    public async Task Consume(ConsumeContext<StampLineage> context)
    {
        var command = context.Message;
        using var _ = RunLogScope.Begin(command.RunId, command.Source);

        var stopwatch = Stopwatch.StartNew();
        var summary = await stamper.StampAsync(command.RunId, command.Source, command.ProcessType, context.CancellationToken);

        logger.LogInformation(
            "{What}: {Discovered} discovered, {Updated} updated, {Deleted} deleted, {Errored} errored, {Unchanged} unchanged from {BatchCount} batches in {ElapsedMs} ms",
            summary.AlreadyStamped ? "lineage already stamped; republishing" : "lineage stamped",
            summary.Discovered, summary.Updated, summary.Deleted, summary.Errored, summary.Unchanged, summary.BatchIds.Count,
            stopwatch.ElapsedMilliseconds);

        await context.Publish(new LineageStamped { RunId = command.RunId }, context.CancellationToken);
    }
}
