using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Npgsql;
using RunSaga.Shared.Hosting;

namespace RunSaga.Orchestrator.Observability;

/// <summary>
/// RunSaga's own metrics (meter <c>RunSaga</c>), exported with MassTransit's and ASP.NET Core's at <c>/metrics</c>.
/// Counters and histograms are fed by <see cref="MetricsConsumer"/> from the pipeline's events; the runs gauge reads
/// the ledger when scraped (at most every 10 s), the archive gauges the archive folder (at most every minute). The
/// alert rules in <c>deploy/prometheus/alerts.yml</c> are written against these names.
/// </summary>
public sealed class RunSagaMeters : IDisposable
{
    public const string MeterName = "RunSaga";

    private readonly Meter meter;
    private readonly NpgsqlDataSource dataSource;
    private readonly object gate = new();
    private (DateTime At, List<Measurement<long>> Values) runsByStatus = (DateTime.MinValue, []);
    private readonly string archiveBasePath;
    private (DateTime At, ArchiveStorage Values) archive = (DateTime.MinValue, new(null, null, null));

    public RunSagaMeters(IMeterFactory meters, NpgsqlDataSource dataSource, IOptions<RetentionOptions> retention)
    {
        this.dataSource = dataSource;
        archiveBasePath = retention.Value.ArchiveBasePath;
        meter = meters.Create(MeterName);
        RunsFinished = meter.CreateCounter<long>("runsaga.runs.finished", "{run}", "Runs that reached Completed, Failed or Cancelled, by status and error code");
        ItemsPromoted = meter.CreateCounter<long>("runsaga.items.promoted", "{item}", "Items promoted into projects, by change");
        FlushWait = meter.CreateHistogram<double>("runsaga.flush.wait", "s", "From the scrape's completion to the flush verdict");
        PromotionDuration = meter.CreateHistogram<double>("runsaga.promotion.duration", "s", "From PromoteRun to ProjectsUpserted");
        RetentionDeleted = meter.CreateCounter<long>("runsaga.retention.deleted", "{row}", "What retention deleted: items, archived runs, deleted runs");
        RetentionCycles = meter.CreateCounter<long>("runsaga.retention.cycles", "{cycle}",
            "Retention cycles and run commands by outcome: succeeded, skipped, withheld, failed (dry runs not counted)");
        CycleItemsDeleted = meter.CreateHistogram<long>("runsaga.retention.cycle.items_deleted", "{item}",
            "Items one retention cycle deleted (dry runs not counted)");
        meter.CreateObservableGauge("runsaga.runs", ObserveRuns, "{run}", "Runs in the ledger by status");
        meter.CreateObservableGauge("runsaga.archive.size", () => Archive().FilesBytes ?? Nothing(), "By",
            "Bytes of the files under ARCHIVE_BASE_PATH (archives and the trash)");
        meter.CreateObservableGauge("runsaga.archive.filesystem.size", () => Archive().FilesystemBytes ?? Nothing(), "By",
            "Size of the filesystem ARCHIVE_BASE_PATH is on");
        meter.CreateObservableGauge("runsaga.archive.filesystem.available", () => Archive().AvailableBytes ?? Nothing(), "By",
            "Bytes still free for archives on the filesystem ARCHIVE_BASE_PATH is on");
    }

    public Counter<long> RunsFinished { get; }
    public Counter<long> ItemsPromoted { get; }
    public Histogram<double> FlushWait { get; }
    public Histogram<double> PromotionDuration { get; }
    public Counter<long> RetentionDeleted { get; }
    public Counter<long> RetentionCycles { get; }
    public Histogram<long> CycleItemsDeleted { get; }

    public void Dispose() => meter.Dispose();

    private static IEnumerable<Measurement<long>> Nothing() => [];

    /// <summary>
    /// The archive folder's size (a walk of its files) and its filesystem's, at most once a minute; nothing while the
    /// folder does not exist yet. Every instance reports the same folder: alert on the max across instances.
    /// </summary>
    private ArchiveStorage Archive()
    {
        lock (gate)
        {
            // A folder not there yet is looked for again soon; a walked one at most once a minute.
            if (DateTime.UtcNow - archive.At < (archive.Values.FilesBytes is null ? TimeSpan.FromSeconds(5) : TimeSpan.FromMinutes(1)))
            {
                return archive.Values;
            }

            var values = new ArchiveStorage(null, null, null);
            try
            {
                var folder = new DirectoryInfo(Path.GetFullPath(archiveBasePath));
                if (folder.Exists)
                {
                    var files = folder.EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true })
                        .Sum(f => f.Length);
                    var drive = new DriveInfo(folder.FullName);
                    values = new ArchiveStorage(One(files), One(drive.TotalSize), One(drive.AvailableFreeSpace));
                }
            }
            catch (IOException)
            {
                // The folder went away while it was walked, or the mount is gone: report nothing rather than a wrong size.
            }
            catch (UnauthorizedAccessException)
            {
            }

            archive = (DateTime.UtcNow, values);
            return values;
        }

        static IEnumerable<Measurement<long>> One(long value) => [new Measurement<long>(value)];
    }

    private sealed record ArchiveStorage(
        IEnumerable<Measurement<long>>? FilesBytes, IEnumerable<Measurement<long>>? FilesystemBytes, IEnumerable<Measurement<long>>? AvailableBytes);

    private IEnumerable<Measurement<long>> ObserveRuns()
    {
        lock (gate)
        {
            if (DateTime.UtcNow - runsByStatus.At < TimeSpan.FromSeconds(10))
            {
                return runsByStatus.Values;
            }

            var values = new List<Measurement<long>>();
            try
            {
                using var command = dataSource.CreateCommand("SELECT status, count(*) FROM runsaga.runs GROUP BY status");
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    values.Add(new Measurement<long>(reader.GetInt64(1), new KeyValuePair<string, object?>("status", reader.GetString(0))));
                }
            }
            catch (NpgsqlException)
            {
                return runsByStatus.Values; // the database is away: the last known values, /health/ready says why
            }

            runsByStatus = (DateTime.UtcNow, values);
            return values;
        }
    }
}
