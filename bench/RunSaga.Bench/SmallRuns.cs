using System.Diagnostics;

namespace RunSaga.Bench;

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
    Dictionary<string, double> CpuSeconds);

/// <summary>
/// Many small runs at once, the fleet's everyday load: every run (RunRequested, RunStarted, one batch,
/// ScrapeCompleted) of every source published together, as fast as the broker confirms them. Latency is per run,
/// from the broker's confirm of its <c>ScrapeCompleted</c> (the scraper is done) to the arrival of <c>RunCompleted</c>.
/// </summary>
public sealed class SmallRuns(BenchStack stack, Scraper scraper, Stopwatch clock, DataSet data, BenchOptions options)
{
    public async Task<SmallRunsResult> Run()
    {
        var runs = Enumerable.Range(0, options.SmallRuns)
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
            + $"p99 {result.LatencyP99Seconds:0.000} s, max {result.LatencyMaxSeconds:0.000} s; CPU s {string.Join(", ", cpuSeconds.Select(c => $"{c.Key} {c.Value}"))}");
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
