using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace RunSaga.Orchestrator.Observability;

/// <summary>
/// OpenTelemetry for the Orchestrator: MassTransit's and ASP.NET Core's traces and metrics plus RunSaga's own
/// (<see cref="RunSagaMeters"/>). Metrics are scraped at <c>/metrics</c> (Prometheus); traces and metrics also go
/// to an OTLP collector when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
/// </summary>
public static class Telemetry
{
    public static IServiceCollection AddRunSagaTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var otlp = !string.IsNullOrEmpty(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        services.AddSingleton<RunSagaMeters>();
        services.AddOpenTelemetry()
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(RunSagaMeters.MeterName, "MassTransit").AddAspNetCoreInstrumentation().AddPrometheusExporter();
                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            })
            .WithTracing(tracing =>
            {
                tracing.AddSource("MassTransit").AddAspNetCoreInstrumentation();
                if (otlp)
                {
                    tracing.AddOtlpExporter();
                }
            });
        return services;
    }
}
