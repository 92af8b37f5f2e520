using System.Text.Json;
using MassTransit;
using Npgsql;
using RunSaga.Contracts;
using RunSaga.Shared.Data;
using RunSaga.Shared.Messaging;

namespace RunSaga.Orchestrator.Observability;

/// <summary>
/// Feeds <see cref="RunSagaMeters"/> from the events RunSaga publishes, on a queue of its own
/// (<c>runsaga.metrics</c>), so that no metric is recorded for work a retried or rolled-back transaction did not
/// do. A redelivered event may count twice: these are metrics, not the ledger.
/// </summary>
public sealed class MetricsConsumer(RunSagaMeters meters, NpgsqlDataSource dataSource) :
    IConsumer<RunCompleted>,
    IConsumer<RunFailed>,
    IConsumer<RetentionApplied>,
    IConsumer<RetentionFailed>
{
    public async Task Consume(ConsumeContext<RunCompleted> context)
    {
        var message = context.Message;
        // Read first: a transient database error is retried, and nothing may be counted twice.
        string? steps;
        await using (var read = dataSource.CreateCommand("SELECT metrics FROM runsaga.runs WHERE id = @run"))
        {
            read.Parameters.AddWithValue("run", message.RunId);
            steps = await read.ExecuteScalarAsync(context.CancellationToken) as string;
        }

        meters.RunsFinished.Add(1, new KeyValuePair<string, object?>("status", RunStatus.Completed));
        meters.ItemsPromoted.Add(message.Inserted, new KeyValuePair<string, object?>("change", "inserted"));
        meters.ItemsPromoted.Add(message.Updated, new KeyValuePair<string, object?>("change", "updated"));
        meters.ItemsPromoted.Add(message.Unchanged, new KeyValuePair<string, object?>("change", "unchanged"));
        meters.ItemsPromoted.Add(message.Errored, new KeyValuePair<string, object?>("change", "errored"));
        if (steps is not null)
        {
            RecordDurations(steps);
        }
    }

    public Task Consume(ConsumeContext<RunFailed> context)
    {
        // A cancelled run is announced by RunFailed with its code; it counts under its own status.
        var status = context.Message.ErrorCode == Runs.ErrorCodes.Cancelled ? RunStatus.Cancelled : RunStatus.Failed;
        meters.RunsFinished.Add(1,
            new KeyValuePair<string, object?>("status", status), new KeyValuePair<string, object?>("error_code", Runs.ErrorCodes.AsMetricLabel(context.Message.ErrorCode)));
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<RetentionApplied> context)
    {
        if (!context.Message.DryRun)
        {
            meters.RetentionDeleted.Add(context.Message.ProjectsDeleted, new KeyValuePair<string, object?>("kind", "items"));
            meters.RetentionDeleted.Add(context.Message.RunsArchived, new KeyValuePair<string, object?>("kind", "runs_archived"));
            meters.RetentionDeleted.Add(context.Message.RunsDeleted, new KeyValuePair<string, object?>("kind", "runs_deleted"));
            meters.CycleItemsDeleted.Record(context.Message.ProjectsDeleted);
            meters.RetentionCycles.Add(1, new KeyValuePair<string, object?>("outcome", context.Message.Outcome));
        }

        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<RetentionFailed> context)
    {
        // A failed cycle, or a refused or failed run command (it names the run).
        meters.RetentionCycles.Add(1,
            new KeyValuePair<string, object?>("outcome", "failed"), new KeyValuePair<string, object?>("kind", context.Message.RunId is null ? "cycle" : "run_command"));
        return Task.CompletedTask;
    }

    /// <summary>The flush's and the promotion's durations from their records in <c>runs.metrics</c>, when they started and finished.</summary>
    private void RecordDurations(string steps)
    {
        using var document = JsonDocument.Parse(steps);
        foreach (var step in document.RootElement.EnumerateArray())
        {
            var histogram = step.TryGetProperty("name", out var name) ? name.GetString() switch
            {
                "flush" => meters.FlushWait,
                "promotion" => meters.PromotionDuration,
                _ => null,
            } : null;
            if (histogram is not null
                && step.TryGetProperty("started_at", out var started) && started.ValueKind == JsonValueKind.String
                && step.TryGetProperty("finished_at", out var finished) && finished.ValueKind == JsonValueKind.String)
            {
                histogram.Record((finished.GetDateTime() - started.GetDateTime()).TotalSeconds);
            }
        }
    }
}

public sealed class MetricsConsumerDefinition : ConsumerDefinition<MetricsConsumer>
{
    public MetricsConsumerDefinition() => EndpointName = QueueNames.Metrics;

    // Found by the fault campaign (seed 2024): without the retry, a terminated database connection sent the event to
    // runsaga.metrics_error.
    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<MetricsConsumer> consumerConfigurator,
        IRegistrationContext context) =>
        endpointConfigurator.UseRunSagaRetry();
}
