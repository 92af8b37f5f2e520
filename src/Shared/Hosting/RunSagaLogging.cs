using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace RunSaga.Shared.Hosting;

/// <summary>
/// Serilog for both hosts: one console line per event with the run id and source of the work it belongs
/// to (pushed by <see cref="RunLogScope"/>), or compact JSON when <c>LOG_FORMAT=json</c>.
/// </summary>
public static class RunSagaLogging
{
    private const string Template =
        "[{Timestamp:HH:mm:ss.fff} {Level:u3}] {SourceContext} run={RunId} source={Source} {Message:lj}{NewLine}{Exception}";

    /// <summary>Log events waiting for the console; a full buffer makes the caller wait (no line is dropped).</summary>
    private const int BufferedEvents = 10_000;

    public static IHostApplicationBuilder AddRunSagaLogging(this IHostApplicationBuilder builder, string host)
    {
        var json = string.Equals(builder.Configuration["LOG_FORMAT"], "json", StringComparison.OrdinalIgnoreCase);
        var logger = new LoggerConfiguration()
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            .MinimumLevel.Override("Microsoft.EntityFrameworkCore", LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .Enrich.WithProperty("Host", host)
            .Enrich.WithProperty("RunId", "-")
            .Enrich.WithProperty("Source", "-")
            // One background writer: the console sink takes a lock and flushes per event, which on two cores cost the
            // Orchestrator a tenth of its CPU in lock contention under load (docs/benchmarks/README.md).
            .WriteTo.Async(
                sink =>
                {
                    if (json)
                    {
                        sink.Console(new CompactJsonFormatter());
                    }
                    else
                    {
                        sink.Console(outputTemplate: Template, formatProvider: System.Globalization.CultureInfo.InvariantCulture);
                    }
                },
                bufferSize: BufferedEvents,
                blockWhenFull: true)
            .CreateLogger();

        builder.Services.AddSerilog(logger, dispose: true);

        // Environment.Exit (the consumer watchdog's forced exit) skips the host's disposal: write what is buffered.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => logger.Dispose();
        return builder;
    }
}
