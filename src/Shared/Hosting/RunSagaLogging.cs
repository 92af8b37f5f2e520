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

    public static IHostApplicationBuilder AddRunSagaLogging(this IHostApplicationBuilder builder, string host)
    {
        var json = string.Equals(builder.Configuration["LOG_FORMAT"], "json", StringComparison.OrdinalIgnoreCase);
        builder.Services.AddSerilog(logger =>
        {
            logger
                .MinimumLevel.Information()
                .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
                .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
                .MinimumLevel.Override("Microsoft.EntityFrameworkCore", LogEventLevel.Warning)
                .Enrich.FromLogContext()
                .Enrich.WithProperty("Host", host)
                .Enrich.WithProperty("RunId", "-")
                .Enrich.WithProperty("Source", "-");
            if (json)
            {
                logger.WriteTo.Console(new CompactJsonFormatter());
            }
            else
            {
                logger.WriteTo.Console(outputTemplate: Template, formatProvider: System.Globalization.CultureInfo.InvariantCulture);
            }
        });
        return builder;
    }
}
