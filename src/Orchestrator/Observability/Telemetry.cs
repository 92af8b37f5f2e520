using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace RunSaga.Orchestrator.Observability;

/// <summary>
/// OpenTelemetry for the Orchestrator: MassTransit's and ASP.NET Core's metrics plus RunSaga's own
/// (<see cref="RunSagaMeters"/>), scraped at <c>/metrics</c> (Prometheus). With <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> set,
/// metrics and traces (MassTransit's, ASP.NET Core's) also go to that OTLP collector. Without it no trace is recorded:
/// an activity per message, send and publish, with its tags, is work nobody would read (profiled: a measurable share
/// of the Orchestrator's CPU per run).
/// </summary>
public static class Telemetry
{
    public static IServiceCollection AddRunSagaTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var otlp = !string.IsNullOrEmpty(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        services.AddSingleton<RunSagaMeters>();
        var telemetry = services.AddOpenTelemetry()
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(RunSagaMeters.MeterName, "MassTransit").AddAspNetCoreInstrumentation().AddPrometheusExporter();
                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            });
        if (otlp)
        {
            telemetry.WithTracing(tracing => tracing.AddSource("MassTransit").AddAspNetCoreInstrumentation().AddOtlpExporter());
        }

        return services;
    }
}
