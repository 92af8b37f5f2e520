using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace RunSaga.Shared.Hosting;

/// <summary>Retention's knobs, under the names the seed systems used, validated at start.</summary>
public sealed class RetentionOptions
{
    /// <summary>An item is stale when none of the last KEEP_RUNS completed full runs of its source saw it.</summary>
    [ConfigurationKeyName("KEEP_RUNS")]
    [Range(1, 1000)]
    public int KeepRuns { get; set; } = 3;

    /// <summary>A completed full run with fewer items than this share of the previous one withholds retention.</summary>
    [ConfigurationKeyName("MIN_RUN_RATIO")]
    [Range(0.0, 1.0)]
    public double MinRunRatio { get; set; } = 0.5;

    /// <summary>When the retention cycle for every source runs: a Quartz-style cron with seconds, in UTC.</summary>
    [ConfigurationKeyName("RETENTION_SCHEDULE")]
    [Required]
    public string Schedule { get; set; } = "0 0 2 * * ?";
}

public static class RetentionOptionsRegistration
{
    public static IServiceCollection AddRetentionOptions(this IServiceCollection services)
    {
        services.AddOptions<RetentionOptions>()
            .BindConfiguration(string.Empty)
            .ValidateDataAnnotations()
            .Validate(
                options => MassTransit.JobService.Scheduling.CronExpression.IsValidExpression(options.Schedule),
                "RETENTION_SCHEDULE is not a valid cron expression: use the Quartz form with seconds, e.g. '0 0 2 * * ?' for 02:00 UTC daily")
            .ValidateOnStart();
        return services;
    }
}
