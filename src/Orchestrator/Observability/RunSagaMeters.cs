using System.Diagnostics.Metrics;
using Npgsql;

namespace RunSaga.Orchestrator.Observability;

/// <summary>
/// RunSaga's own metrics (meter <c>RunSaga</c>), exported with MassTransit's and ASP.NET Core's at <c>/metrics</c>.
/// Counters and histograms are fed by <see cref="MetricsConsumer"/> from the pipeline's events; the runs gauge reads
/// the ledger when scraped (at most every 10 s).
/// </summary>
public sealed class RunSagaMeters : IDisposable
{
    public const string MeterName = "RunSaga";

    private readonly Meter meter;
    private readonly NpgsqlDataSource dataSource;
    private readonly object gate = new();
    private (DateTime At, List<Measurement<long>> Values) runsByStatus = (DateTime.MinValue, []);

    public RunSagaMeters(IMeterFactory meters, NpgsqlDataSource dataSource)
    {
        this.dataSource = dataSource;
        meter = meters.Create(MeterName);
        RunsFinished = meter.CreateCounter<long>("runsaga.runs.finished", "{run}", "Runs that reached Completed or Failed, by status and error code");
        ItemsPromoted = meter.CreateCounter<long>("runsaga.items.promoted", "{item}", "Items promoted into projects, by change");
        FlushWait = meter.CreateHistogram<double>("runsaga.flush.wait", "s", "From the scrape's completion to the flush verdict");
        PromotionDuration = meter.CreateHistogram<double>("runsaga.promotion.duration", "s", "From PromoteRun to ProjectsUpserted");
        RetentionDeleted = meter.CreateCounter<long>("runsaga.retention.deleted", "{row}", "What retention deleted: items, archived runs, deleted runs");
        meter.CreateObservableGauge("runsaga.runs", ObserveRuns, "{run}", "Runs in the ledger by status");
    }

    public Counter<long> RunsFinished { get; }
    public Counter<long> ItemsPromoted { get; }
    public Histogram<double> FlushWait { get; }
    public Histogram<double> PromotionDuration { get; }
    public Counter<long> RetentionDeleted { get; }

    public void Dispose() => meter.Dispose();

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
