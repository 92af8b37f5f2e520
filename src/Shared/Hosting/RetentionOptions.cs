using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace RunSaga.Shared.Hosting;

/// <summary>Retention's knobs, under the names the seed systems used, validated at start.</summary>
public sealed class RetentionOptions
{
    /// <summary>An item is stale when none of the last KEEP_RUNS completed full runs of its source saw it.</summary>
    [ConfigurationKeyName("KEEP_RUNS")]
    [Range(1, 1000, ErrorMessage = "KEEP_RUNS must be a whole number of runs from 1 to 1000")]
    public int KeepRuns { get; set; } = 3;

    /// <summary>A completed full run with fewer items than this share of the previous one withholds retention.</summary>
    [ConfigurationKeyName("MIN_RUN_RATIO")]
    [Range(0.0, 1.0, ErrorMessage = "MIN_RUN_RATIO must be a ratio from 0 to 1 (e.g. 0.5)")]
    public double MinRunRatio { get; set; } = 0.5;

    /// <summary>When the retention cycle for every source runs: a Quartz-style cron with seconds, in UTC.</summary>
    [ConfigurationKeyName("RETENTION_SCHEDULE")]
    [Required]
    public string Schedule { get; set; } = "0 0 2 * * ?";

    /// <summary>A finished run's staged items and batches are archived to a file this many days after it finished.</summary>
    [ConfigurationKeyName("ARCHIVE_AFTER_DAYS")]
    [Range(0.0, 36500.0, ErrorMessage = "ARCHIVE_AFTER_DAYS must be a number of days from 0 to 36500; fractions are allowed (0.25 = 6 hours)")]
    public double ArchiveAfterDays { get; set; } = 7;

    /// <summary>A completed run's artifacts (archive file, staging rows) are deleted this many days after it finished.</summary>
    [ConfigurationKeyName("DELETE_AFTER_DAYS")]
    [Range(0.0, 36500.0, ErrorMessage = "DELETE_AFTER_DAYS must be a number of days from 0 to 36500; fractions are allowed (0.25 = 6 hours)")]
    public double DeleteAfterDays { get; set; } = 30;

    /// <summary>The same for failed runs; unset means DELETE_AFTER_DAYS.</summary>
    [ConfigurationKeyName("FAILED_DELETE_AFTER_DAYS")]
    [Range(0.0, 36500.0, ErrorMessage = "FAILED_DELETE_AFTER_DAYS must be a number of days from 0 to 36500, or unset to follow DELETE_AFTER_DAYS")]
    public double? FailedDeleteAfterDays { get; set; }

    /// <summary>
    /// How long a soft-deleted run's archive stays in <c>{ARCHIVE_BASE_PATH}/.trash</c>, where UndeleteRun can bring the run
    /// back; then a retention cycle removes it, audited (<c>trash-purged</c>).
    /// </summary>
    [ConfigurationKeyName("TRASH_KEEP_DAYS")]
    [Range(0.0, 36500.0, ErrorMessage = "TRASH_KEEP_DAYS must be a number of days from 0 to 36500")]
    public double TrashKeepDays { get; set; } = 7;

    public TimeSpan TrashKeep => TimeSpan.FromDays(TrashKeepDays);

    /// <summary><c>gzip</c> (<c>.tar.gz</c>), <c>brotli</c> (<c>.tar.br</c>) or <c>zstd</c> (<c>.tar.zst</c>).</summary>
    [ConfigurationKeyName("ARCHIVE_COMPRESSION")]
    [Required]
    // The seeds name bz2 and xz; they are refused at start, by name, rather than written through another library: zstd
    // is the small-archive choice (close to xz, far cheaper to write), and each of the three reads back byte for byte
    // (Archival_Specs). Restores go by the file's extension, so refusing a value never strands an archive.
    [RegularExpression("^(gzip|brotli|zstd)$", ErrorMessage =
        "ARCHIVE_COMPRESSION must be gzip, brotli or zstd (bz2 and xz are not offered: use zstd for the smallest archives)")]
    public string ArchiveCompression { get; set; } = "gzip";

    /// <summary>Where archive files go: <c>{base}/{YYYY}/{MM}/{folder_name}.tar.gz</c>; relative to the working directory.</summary>
    [ConfigurationKeyName("ARCHIVE_BASE_PATH")]
    [Required(ErrorMessage = "ARCHIVE_BASE_PATH must name the folder archives are written to")]
    public string ArchiveBasePath { get; set; } = "./data/archive";

    /// <summary><c>soft</c> keeps the run's row with <c>deleted_at</c>; <c>hard</c> removes it. Both write <c>run_audit</c>.</summary>
    [ConfigurationKeyName("DELETION_STRATEGY")]
    [Required]
    [RegularExpression("^(soft|hard)$", ErrorMessage = "DELETION_STRATEGY must be soft or hard")]
    public string DeletionStrategy { get; set; } = "soft";

    /// <summary>At most this many runs are archived (and this many deleted) per retention message; the rest follow in the next.</summary>
    [ConfigurationKeyName("RETENTION_BATCH_RUNS")]
    [Range(1, 10000, ErrorMessage = "RETENTION_BATCH_RUNS must be a whole number of runs from 1 to 10000")]
    public int BatchRuns { get; set; } = 100;

    public TimeSpan ArchiveAfter => TimeSpan.FromDays(ArchiveAfterDays);
    public TimeSpan DeleteAfter => TimeSpan.FromDays(DeleteAfterDays);
    public TimeSpan FailedDeleteAfter => TimeSpan.FromDays(FailedDeleteAfterDays ?? DeleteAfterDays);
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
