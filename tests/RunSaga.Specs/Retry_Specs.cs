using System.Text.Json;
using System.Text.RegularExpressions;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using RunSaga.Orchestrator.Observability;
using RunSaga.Orchestrator.Runs;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;

namespace RunSaga.Specs;

/// <summary>
/// Every endpoint of the Orchestrator retries transient errors. Found by the fault campaign (seed 2024): the metrics
/// endpoint had no retry, so a terminated database connection sent a RunCompleted to runsaga.metrics_error. The spec
/// reads MassTransit's own description of the configured pipes (its probe) for each endpoint.
/// </summary>
public sealed class Every_orchestrator_endpoint
{
    [Fact]
    public async Task Should_retry_transient_errors()
    {
        await using var provider = new ServiceCollection()
            .AddLogging()
            .Configure<RunSagaOptions>(_ => { })
            .AddSingleton(TimeProvider.System)
            .AddMassTransitTestHarness(x =>
            {
                x.AddSagaStateMachine<RunStateMachine, RunState, RunStateDefinition>();
                x.AddConsumer<MetricsConsumer, MetricsConsumerDefinition>();
            })
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            var probe = JsonSerializer.Serialize(harness.Bus.GetProbeResult());
            foreach (var queue in new[] { QueueNames.Runs, QueueNames.Metrics })
            {
                Assert.True(EndpointHasRetry(probe, queue), $"{queue} has no retry filter; the probe says:{Environment.NewLine}{probe}");
            }
        }
        finally
        {
            await harness.Stop();
        }
    }

    /// <summary>The endpoint's part of the probe (from its address to the next endpoint's) names a retry filter.</summary>
    private static bool EndpointHasRetry(string probe, string queue)
    {
        var start = probe.IndexOf($"/{queue}\"", StringComparison.Ordinal);
        if (start < 0)
        {
            return false;
        }

        var next = Regex.Match(probe[(start + queue.Length + 2)..], "\"receiveEndpoint\"|/runsaga\\.[a-z]+\"");
        var part = next.Success ? probe.Substring(start, next.Index + queue.Length + 2) : probe[start..];
        return part.Contains("\"retry\"", StringComparison.Ordinal) || part.Contains("\"filterType\":\"retry\"", StringComparison.Ordinal);
    }
}
