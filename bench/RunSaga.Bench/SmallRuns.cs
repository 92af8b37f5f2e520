using System.Diagnostics;

namespace RunSaga.Bench;

/// <summary>
/// What the run history costs: the same small runs with RUN_HISTORY on and off, measured alternately (on, off, on, off…),
/// each on freshly restarted hosts warmed the same way on the same database.
/// </summary>
public sealed record RunHistoryCost(IReadOnlyList<SmallRunsResult> On, IReadOnlyList<SmallRunsResult> Off)
{
    public double OnRunsPerSecond => Math.Round(On.Average(r => r.RunsPerSecond), 1);

    public double OffRunsPerSecond => Math.Round(Off.Average(r => r.RunsPerSecond), 1);

    /// <summary>Mean runs per second with the history, as a share of the mean without it.</summary>
    public double ThroughputRatio => Math.Round(On.Average(r => r.RunsPerSecond) / Off.Average(r => r.RunsPerSecond), 2);

    /// <summary>The hosts' CPU milliseconds per run (Orchestrator, Consumers, PostgreSQL), mean over the rounds.</summary>
    public double OnHostsCpuMsPerRun => HostsCpu(On);

    public double OffHostsCpuMsPerRun => HostsCpu(Off);

    private static double HostsCpu(IReadOnlyList<SmallRunsResult> runs) => Math.Round(runs.Average(r =>
        r.CpuMsPerRun.Where(c => c.Key.StartsWith("orchestrator", StringComparison.Ordinal) || c.Key.StartsWith("consumers", StringComparison.Ordinal) || c.Key == "postgresql")
            .Sum(c => c.Value)), 1);
}

public sealed record SmallRunsResult(
    int Runs,
    int Sources,
    int ItemsPerRun,
    double PublishSeconds,
    double WallSeconds,
    double RunsPerSecond,
    double LatencyP50Seconds,
    double LatencyP99Seconds,
    double LatencyMaxSeconds,
    Dictionary<string, double> CpuSeconds)
{
    /// <summary>CPU milliseconds per run by process (the Orchestrator, the Consumers, PostgreSQL, RabbitMQ, the bench's scraper).</summary>
    public Dictionary<string, double> CpuMsPerRun => CpuSeconds.ToDictionary(c => c.Key, c => Math.Round(c.Value * 1000 / Runs, 1));
}

/// <summary>The open-loop measurement: runs arriving at a steady rate, far below capacity.</summary>
public sealed record SteadyRunsResult(
    int Runs,
    double RatePerSecond,
    int Sources,
    int ItemsPerRun,
    double LatencyP50Seconds,
    double LatencyP90Seconds,
    double LatencyP99Seconds,
    double LatencyMaxSeconds,
    Dictionary<string, double> CpuSeconds)
{
    public Dictionary<string, double> CpuMsPerRun => CpuSeconds.ToDictionary(c => c.Key, c => Math.Round(c.Value * 1000 / Runs, 1));
}

/// <summary>
/// Many small runs at once, the fleet's everyday load: every run (RunRequested, RunStarted, one batch,
/// ScrapeCompleted) of every source published together, as fast as the broker confirms them. Latency is per run,
/// from the broker's confirm of its <c>ScrapeCompleted</c> (the scraper is done) to the arrival of <c>RunCompleted</c>.
/// </summary>
public sealed class SmallRuns(BenchStack stack, Scraper scraper, Stopwatch clock, DataSet data, BenchOptions options)
{
    /// <param name="count">How many runs (default <c>--small-runs</c>); fewer to warm fresh hosts up.</param>
    public async Task<SmallRunsResult> Run(int? count = null)
    {
        var runs = Enumerable.Range(0, count ?? options.SmallRuns)
            .Select(i => (RunId: Guid.NewGuid(), Source: $"small-{i % options.SmallSources:D2}", Number: i))
            .ToList();
        var scrapeCompleted = new TimeSpan[runs.Count];
        Console.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] small runs: publishing {runs.Count:N0} runs of {options.SmallItems} items at once");

        var cpu = new CpuMeter(stack.Hosts);
        var start = clock.Elapsed;
        var pending = new List<Task>(Scraper.Window);
        foreach (var run in runs)
        {
            // Each source's runs re-scrape the same keys, a third of them with new content each time.
            var items = Enumerable.Range(0, options.SmallItems)
                .Select(j => data.Item(j, version: j % 3 == 0 ? run.Number : 0))
                .ToList();
            var number = run.Number;
            pending.Add(PublishRun(run.RunId, run.Source, items, () => scrapeCompleted[number] = clock.Elapsed));
            if (pending.Count >= Scraper.Window)
            {
                var done = await Task.WhenAny(pending);
                pending.Remove(done);
                await done;
            }
        }

        await Task.WhenAll(pending);
        var publishSeconds = (clock.Elapsed - start).TotalSeconds;

        var latencies = new List<double>(runs.Count);
        var last = start;
        foreach (var run in runs)
        {
            var end = await scraper.WaitForEnd(run.RunId, TimeSpan.FromMinutes(10));
            if (!end.Completed)
            {
                throw new InvalidOperationException($"Small run {run.RunId} ({run.Source}) failed: {end.Body}");
            }

            latencies.Add((end.At - scrapeCompleted[run.Number]).TotalSeconds);
            last = end.At > last ? end.At : last;
        }

        var cpuSeconds = cpu.Stop();
        latencies.Sort();
        var wall = (last - start).TotalSeconds;
        var result = new SmallRunsResult(runs.Count, options.SmallSources, options.SmallItems, PhaseTimes.Round(publishSeconds),
            PhaseTimes.Round(wall), Math.Round(runs.Count / wall, 1),
            Math.Round(Percentile(latencies, 0.50), 3), Math.Round(Percentile(latencies, 0.99), 3), Math.Round(latencies[^1], 3), cpuSeconds);
        Console.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] small runs: {result.Runs:N0} completed in {result.WallSeconds:0.00} s "
            + $"({result.RunsPerSecond} runs/s; published in {result.PublishSeconds:0.00} s); latency p50 {result.LatencyP50Seconds:0.000} s, "
            + $"p99 {result.LatencyP99Seconds:0.000} s, max {result.LatencyMaxSeconds:0.000} s; CPU ms per run {string.Join(", ", result.CpuMsPerRun.Select(c => $"{c.Key} {c.Value}"))}");
        return result;
    }

    /// <summary>
    /// Open loop: a new run starts every 1/rate seconds whatever the pipeline does (as a fleet's scrapers finish on their
    /// own schedule), for <c>--steady-seconds</c>. Latency per run as above; at a rate far below capacity it is what one
    /// run costs, not queue wait.
    /// </summary>
    public async Task<SteadyRunsResult> RunSteady()
    {
        var rate = options.SteadyRate;
        var count = (int)Math.Round(rate * options.SteadySeconds);
        var runs = Enumerable.Range(0, count)
            .Select(i => (RunId: Guid.NewGuid(), Source: $"steady-{i % options.SteadySources:D2}", Number: i))
            .ToList();
        var scrapeCompleted = new TimeSpan[runs.Count];
        Console.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] steady runs: {runs.Count:N0} runs of {options.SteadyItems} items over "
            + $"{options.SteadySources} sources, {rate} per second for {options.SteadySeconds} s");

        var cpu = new CpuMeter(stack.Hosts);
        var start = clock.Elapsed;
        var publishing = new List<Task>(runs.Count);
        foreach (var run in runs)
        {
            var due = start + TimeSpan.FromSeconds(run.Number / rate);
            if (due > clock.Elapsed)
            {
                await Task.Delay(due - clock.Elapsed);
            }

            var items = Enumerable.Range(0, options.SteadyItems)
                .Select(j => data.Item(j, version: j % 3 == 0 ? run.Number : 0))
                .ToList();
            var number = run.Number;
            publishing.Add(PublishRun(run.RunId, run.Source, items, () => scrapeCompleted[number] = clock.Elapsed));
        }

        await Task.WhenAll(publishing);
        var latencies = new List<double>(runs.Count);
        foreach (var run in runs)
        {
            var end = await scraper.WaitForEnd(run.RunId, TimeSpan.FromMinutes(5));
            if (!end.Completed)
            {
                throw new InvalidOperationException($"Steady run {run.RunId} ({run.Source}) failed: {end.Body}");
            }

            latencies.Add((end.At - scrapeCompleted[run.Number]).TotalSeconds);
        }

        var cpuSeconds = cpu.Stop();
        latencies.Sort();
        var result = new SteadyRunsResult(runs.Count, rate, options.SteadySources, options.SteadyItems,
            Math.Round(Percentile(latencies, 0.50), 3), Math.Round(Percentile(latencies, 0.90), 3), Math.Round(Percentile(latencies, 0.99), 3),
            Math.Round(latencies[^1], 3), cpuSeconds);
        Console.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] steady runs: {result.Runs:N0} at {rate}/s; latency p50 {result.LatencyP50Seconds:0.000} s, "
            + $"p90 {result.LatencyP90Seconds:0.000} s, p99 {result.LatencyP99Seconds:0.000} s, max {result.LatencyMaxSeconds:0.000} s; "
            + $"CPU ms per run {string.Join(", ", result.CpuMsPerRun.Select(c => $"{c.Key} {c.Value}"))}");
        return result;
    }

    /// <summary>One run's four messages in order (each confirmed before the next, as one scraper publishes them).</summary>
    private async Task PublishRun(Guid runId, string source, IReadOnlyList<BenchItem> items, Action scrapeCompleted)
    {
        await scraper.Publish("RunRequested", Envelope.RunRequested(runId, source));
        await scraper.Publish("RunStarted", Envelope.RunStarted(runId, source));
        await scraper.Publish("ItemsScraped", Envelope.ItemsScraped(runId, Envelope.BatchId(0), items));
        await scraper.Publish("ScrapeCompleted", Envelope.ScrapeCompleted(runId, items.Count, 1));
        scrapeCompleted();
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
}
