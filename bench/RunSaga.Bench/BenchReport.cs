using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace RunSaga.Bench;

public sealed record RunComparison(PipelineResult Pipeline, double FloorCopySeconds, double FloorUpsertSeconds, double FloorSeconds, double Ratio, double ItemsPerSecond, double FloorItemsPerSecond)
{
    /// <summary>Staging alone against the floor's <c>\copy</c>: the wall time from the first batch staged to the last, over the copy's.</summary>
    public double StagingRatio => FloorCopySeconds > 0 ? Math.Round(Pipeline.Phases.StagingWallSeconds / FloorCopySeconds, 2) : 0;
}

/// <summary>The same runs with several instances of each host, against the same floor (<c>--orchestrators N --consumers M</c>).</summary>
public sealed record ScaleOutResult(int Orchestrators, int Consumers, RunComparison FirstRun, RunComparison SecondRun, SmallRunsResult? SmallRuns, SteadyRunsResult? SteadyRuns)
{
    public string Shape => $"{Orchestrators} + {Consumers}";
}

public sealed record Target(string Name, string Goal, string Measured, bool Met);

/// <summary>The benchmark's result: one table on the console, the same as JSON and as an SVG chart.</summary>
public sealed record BenchReport(
    DateTime At,
    string Machine,
    string? Commit,
    BenchOptions Options,
    RunComparison FirstRun,
    RunComparison SecondRun,
    double BrokerFloorSeconds,
    SmallRunsResult? SmallRuns,
    SteadyRunsResult? SteadyRuns,
    ScaleOutResult? ScaleOut,
    IReadOnlyList<Target> Targets)
{
    /// <summary>The small runs with RUN_HISTORY on and off, measured after <see cref="SmallRuns"/> on restarted, warmed hosts.</summary>
    public RunHistoryCost? HistoryCost { get; init; }

    public const double MaxRatio = 1.5;
    public const double MaxRssMb = 400;
    public const double MaxStagingRatio = 2;

    public static BenchReport Create(
        BenchOptions options,
        PipelineResult first,
        FloorResult firstFloor,
        PipelineResult second,
        FloorResult secondFloor,
        TimeSpan brokerFloor,
        SmallRunsResult? small,
        SteadyRunsResult? steady,
        ScaleOutResult? scaleOut,
        string repositoryRoot)
    {
        var a = Compare(first, firstFloor);
        var b = Compare(second, secondFloor);
        var peakRss = first.PeakRssMb.Concat(second.PeakRssMb).GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.Max(p => p.Value));
        var targets = new List<Target>
        {
            new("first run vs floor", $"≤ {MaxRatio}×", $"{a.Ratio:0.00}×", a.Ratio <= MaxRatio),
            new("second run vs floor", $"≤ {MaxRatio}×", $"{b.Ratio:0.00}×", b.Ratio <= MaxRatio),
            new("first run staging vs \\copy", $"≤ {MaxStagingRatio}×", $"{a.StagingRatio:0.00}×", a.StagingRatio <= MaxStagingRatio),
        };
        targets.AddRange(peakRss.Select(p => new Target($"peak RSS {p.Key}", $"≤ {MaxRssMb} MiB", $"{p.Value:0} MiB", p.Value <= MaxRssMb)));
        if (small is not null)
        {
            targets.Add(new("small runs throughput", "≥ 100 runs/s", $"{small.RunsPerSecond:0.0} runs/s", small.RunsPerSecond >= 100));
            targets.Add(new("small runs p99 latency", "≤ 2 s", $"{small.LatencyP99Seconds:0.00} s", small.LatencyP99Seconds <= 2));
        }

        if (steady is not null)
        {
            targets.Add(new($"steady {steady.RatePerSecond:0}/s p50 latency", "≤ 250 ms", $"{steady.LatencyP50Seconds * 1000:0} ms", steady.LatencyP50Seconds <= 0.25));
            targets.Add(new($"steady {steady.RatePerSecond:0}/s p99 latency", "≤ 1 s", $"{steady.LatencyP99Seconds:0.00} s", steady.LatencyP99Seconds <= 1));
        }

        return new BenchReport(DateTime.UtcNow, DescribeMachine(), CurrentCommit(repositoryRoot), options, a, b,
            PhaseTimes.Round(brokerFloor.TotalSeconds), small, steady, scaleOut, targets);
    }

    public void Print(TextWriter output)
    {
        output.WriteLine();
        output.WriteLine($"RunSaga benchmark, {Options.Items:N0} items, batches of {Options.Batch:N0} ({Machine}{(Commit is null ? string.Empty : $", commit {Commit}")})");
        output.WriteLine();
        output.WriteLine("| run | items | pipeline s | items/s | floor s (\\copy + upsert) | floor items/s | pipeline/floor | peak RSS orchestrator / consumers | staging s (wall) | staging wall / \\copy | flush s | promotion s | lineage s |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var run in new[] { FirstRun, SecondRun })
        {
            var p = run.Pipeline;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {p.Name} | {p.Items:N0} | {p.WallSeconds:0.00} | {run.ItemsPerSecond:N0} | {run.FloorSeconds:0.00} ({run.FloorCopySeconds:0.00} + {run.FloorUpsertSeconds:0.00}) | {run.FloorItemsPerSecond:N0} | "
                + $"{run.Ratio:0.00}× | {Rss(p, "orchestrator")} / {Rss(p, "consumers")} MiB | {p.Phases.StagingSeconds:0.00} ({p.Phases.StagingWallSeconds:0.00}) | {run.StagingRatio:0.00}× | "
                + $"{p.Phases.FlushSeconds:0.00} | {p.Phases.PromotionSeconds:0.00} | {p.Phases.LineageSeconds:0.00} |"));
        }

        output.WriteLine();
        var batches = FirstRun.Pipeline.Batches;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"broker floor: the first run's {batches:N0} batch messages published and consumed raw in {BrokerFloorSeconds:0.00} s ({FirstRun.Pipeline.Items / BrokerFloorSeconds:N0} items/s)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"rows of projects written (inserted or rewritten): first run {FirstRun.Pipeline.ProjectRowsWritten:N0}, second run {SecondRun.Pipeline.ProjectRowsWritten:N0} "
            + $"(created + updated there: {SecondRun.Pipeline.Inserted + SecondRun.Pipeline.Updated:N0}; removed, their confirmation written down: "
            + $"{FirstRun.Pipeline.Items - SecondRun.Pipeline.Updated - SecondRun.Pipeline.Unchanged:N0})"));
        if (SmallRuns is { } s)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"small runs: {s.Runs:N0} runs of {s.ItemsPerRun} items over {s.Sources} sources in {s.WallSeconds:0.00} s = {s.RunsPerSecond:0.0} runs/s; "
                + $"ScrapeCompleted → RunCompleted p50 {s.LatencyP50Seconds:0.000} s, p99 {s.LatencyP99Seconds:0.000} s, max {s.LatencyMaxSeconds:0.000} s; "
                + $"CPU ms per run: {CpuLine(s.CpuMsPerRun)}"));
        }

        if (HistoryCost is { } cost)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"run history ({cost.On.Count} rounds of small runs with it, then without it, on restarted, warmed hosts): "
                + $"with it {string.Join(" / ", cost.On.Select(r => $"{r.RunsPerSecond:0.0}"))} runs/s (mean {cost.OnRunsPerSecond:0.0}, hosts' CPU {cost.OnHostsCpuMsPerRun:0.0} ms per run); "
                + $"without it (RUN_HISTORY=false) {string.Join(" / ", cost.Off.Select(r => $"{r.RunsPerSecond:0.0}"))} runs/s (mean {cost.OffRunsPerSecond:0.0}, hosts' CPU {cost.OffHostsCpuMsPerRun:0.0} ms per run); "
                + $"with/without {cost.ThroughputRatio:0.00}×"));
        }

        if (SteadyRuns is { } r)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"steady runs: {r.Runs:N0} runs of {r.ItemsPerRun} items over {r.Sources} sources arriving at {r.RatePerSecond:0.#}/s; "
                + $"ScrapeCompleted → RunCompleted p50 {r.LatencyP50Seconds:0.000} s, p90 {r.LatencyP90Seconds:0.000} s, p99 {r.LatencyP99Seconds:0.000} s, "
                + $"max {r.LatencyMaxSeconds:0.000} s; CPU ms per run: {CpuLine(r.CpuMsPerRun)}"));
        }

        if (ScaleOut is { } scaled)
        {
            PrintScaleOut(output, scaled);
        }

        output.WriteLine();
        output.WriteLine("| target | goal | measured | |");
        output.WriteLine("|---|---|---|---|");
        foreach (var t in Targets)
        {
            output.WriteLine($"| {t.Name} | {t.Goal} | {t.Measured} | {(t.Met ? "met" : "MISSED")} |");
        }

        output.WriteLine();
    }

    /// <summary>1 + 1 next to N + M: the same runs and the same floor, measured in this invocation.</summary>
    private void PrintScaleOut(TextWriter output, ScaleOutResult scaled)
    {
        output.WriteLine();
        output.WriteLine($"scale-out: {scaled.Orchestrators} Orchestrators + {scaled.Consumers} Consumers next to 1 + 1 (same runs, same floor; "
            + $"on {Environment.ProcessorCount} cores more instances share the same CPUs, so this shows their overhead, not a speed-up)");
        output.WriteLine();
        output.WriteLine($"| measurement | 1 + 1 | {scaled.Shape} | {scaled.Shape} / 1 + 1 |");
        output.WriteLine("|---|---:|---:|---:|");
        void Row(string name, double one, double many, string format) => output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {one.ToString(format, CultureInfo.InvariantCulture)} | {many.ToString(format, CultureInfo.InvariantCulture)} | {(one > 0 ? many / one : double.NaN):0.00}× |"));
        Row("first run, s", FirstRun.Pipeline.WallSeconds, scaled.FirstRun.Pipeline.WallSeconds, "0.00");
        Row("first run / floor", FirstRun.Ratio, scaled.FirstRun.Ratio, "0.00");
        Row("second run, s", SecondRun.Pipeline.WallSeconds, scaled.SecondRun.Pipeline.WallSeconds, "0.00");
        Row("second run / floor", SecondRun.Ratio, scaled.SecondRun.Ratio, "0.00");
        Row("first run, staging wall s", FirstRun.Pipeline.Phases.StagingWallSeconds, scaled.FirstRun.Pipeline.Phases.StagingWallSeconds, "0.00");
        Row("first run, promotion s", FirstRun.Pipeline.Phases.PromotionSeconds, scaled.FirstRun.Pipeline.Phases.PromotionSeconds, "0.00");
        Row("first run, hosts' CPU s", HostsCpu(FirstRun.Pipeline.CpuSeconds), HostsCpu(scaled.FirstRun.Pipeline.CpuSeconds), "0.0");
        Row("first run, peak RSS of all hosts together, MiB", FirstRun.Pipeline.PeakRssMb.Values.Sum(), scaled.FirstRun.Pipeline.PeakRssMb.Values.Sum(), "0");
        if (SmallRuns is { } s && scaled.SmallRuns is { } ss)
        {
            Row("small runs, runs/s", s.RunsPerSecond, ss.RunsPerSecond, "0.0");
            Row("small runs, p99 s", s.LatencyP99Seconds, ss.LatencyP99Seconds, "0.000");
            Row("small runs, hosts' CPU ms per run", HostsCpu(s.CpuMsPerRun), HostsCpu(ss.CpuMsPerRun), "0.0");
        }

        if (SteadyRuns is { } r && scaled.SteadyRuns is { } rr)
        {
            Row($"steady {r.RatePerSecond:0}/s, p50 ms", r.LatencyP50Seconds * 1000, rr.LatencyP50Seconds * 1000, "0");
            Row($"steady {r.RatePerSecond:0}/s, p99 ms", r.LatencyP99Seconds * 1000, rr.LatencyP99Seconds * 1000, "0");
        }

        output.WriteLine();
        output.WriteLine($"{scaled.Shape}: the first run's batches staged by {string.Join(", ", scaled.FirstRun.Pipeline.Phases.BatchesStagedBy.Select(b => $"{b.Key} {b.Value:N0}"))}");
        output.WriteLine($"{scaled.Shape}: peak RSS by instance (first run) {string.Join(", ", scaled.FirstRun.Pipeline.PeakRssMb.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {p.Value:0} MiB")))}");
        if (scaled.SmallRuns is { } small)
        {
            output.WriteLine($"{scaled.Shape}: small runs, CPU ms per run {CpuLine(small.CpuMsPerRun)}");
        }
    }

    /// <summary>The Orchestrators' and Consumers' share of a CPU measurement (every instance; not PostgreSQL, RabbitMQ or the bench).</summary>
    private static double HostsCpu(Dictionary<string, double> cpu) =>
        cpu.Where(c => c.Key.StartsWith("orchestrator", StringComparison.Ordinal) || c.Key.StartsWith("consumers", StringComparison.Ordinal)).Sum(c => c.Value);

    private static string CpuLine(Dictionary<string, double> perRun) =>
        string.Join(", ", perRun.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} {c.Value:0.0}")));

    /// <summary>Writes <c>bench-&lt;items&gt;.json</c> and <c>bench-&lt;items&gt;.svg</c>; returns their paths.</summary>
    public (string Json, string Svg) Write(string directory)
    {
        var json = Path.Combine(directory, $"bench-{Options.Items}.json");
        File.WriteAllText(json, JsonSerializer.Serialize(this, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }) + "\n");
        var svg = Path.Combine(directory, $"bench-{Options.Items}.svg");
        File.WriteAllText(svg, Chart());
        return (json, svg);
    }

    /// <summary>Horizontal bars, seconds: for each run the floor (\copy and upsert) above the pipeline (its phases' wall time).</summary>
    private string Chart()
    {
        var rows = new List<(string Label, (double Seconds, string Color, string Name)[] Parts)>
        {
            ("first run: floor", [(FirstRun.FloorCopySeconds, "#9ecae1", "\\copy"), (FirstRun.FloorUpsertSeconds, "#3182bd", "upsert")]),
            ("first run: RunSaga", [(FirstRun.Pipeline.WallSeconds, "#e6550d", "RunRequested → RunCompleted")]),
            ("second run: floor", [(SecondRun.FloorCopySeconds, "#9ecae1", "\\copy"), (SecondRun.FloorUpsertSeconds, "#3182bd", "upsert")]),
            ("second run: RunSaga", [(SecondRun.Pipeline.WallSeconds, "#e6550d", "RunRequested → RunCompleted")]),
            ("broker only (first run's messages)", [(BrokerFloorSeconds, "#74c476", "publish + consume, no MassTransit")]),
        };
        if (ScaleOut is { } scaled)
        {
            rows.Insert(2, ($"first run: RunSaga, {scaled.Shape} hosts", [(scaled.FirstRun.Pipeline.WallSeconds, "#fdae6b", "RunRequested → RunCompleted")]));
            rows.Insert(5, ($"second run: RunSaga, {scaled.Shape} hosts", [(scaled.SecondRun.Pipeline.WallSeconds, "#fdae6b", "RunRequested → RunCompleted")]));
        }

        var max = rows.Max(r => r.Parts.Sum(p => p.Seconds));
        const int left = 250, width = 520, rowHeight = 34, top = 50;
        var legendLines = ScaleOut is null ? 1 : 2;
        var height = top + rows.Count * rowHeight + 40 + legendLines * 20;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 120}" height="{height}" font-family="sans-serif" font-size="13">""").Append('\n');
        svg.Append(CultureInfo.InvariantCulture, $"""<rect width="100%" height="100%" fill="white"/><text x="10" y="24" font-size="15" font-weight="bold">RunSaga vs the raw PostgreSQL floor: {Options.Items:N0} items (wall seconds, lower is better)</text>""").Append('\n');
        for (var i = 0; i < rows.Count; i++)
        {
            var y = top + i * rowHeight;
            svg.Append(CultureInfo.InvariantCulture, $"""<text x="{left - 8}" y="{y + 18}" text-anchor="end">{Escape(rows[i].Label)}</text>""").Append('\n');
            double x = left;
            foreach (var (seconds, color, name) in rows[i].Parts)
            {
                var w = seconds / max * width;
                svg.Append(CultureInfo.InvariantCulture, $"""<rect x="{x:0.0}" y="{y + 4}" width="{Math.Max(w, 1):0.0}" height="{rowHeight - 10}" fill="{color}"><title>{Escape(name)}: {seconds:0.00} s</title></rect>""").Append('\n');
                x += w;
            }

            svg.Append(CultureInfo.InvariantCulture, $"""<text x="{x + 6:0.0}" y="{y + 18}">{rows[i].Parts.Sum(p => p.Seconds):0.0} s</text>""").Append('\n');
        }

        var legendY = top + rows.Count * rowHeight + 20;
        var legend = new List<(string Color, string Name)> { ("#9ecae1", "floor: psql \\copy"), ("#3182bd", "floor: INSERT … ON CONFLICT"), ("#e6550d", "RunSaga end to end"), ("#74c476", "broker only") };
        if (ScaleOut is { } shape)
        {
            legend.Add(("#fdae6b", $"RunSaga end to end, {shape.Shape} hosts (same floor)"));
        }

        for (var i = 0; i < legend.Count; i++)
        {
            var x = 10 + i % 4 * 210;
            var y = legendY + i / 4 * 20;
            svg.Append(CultureInfo.InvariantCulture, $"""<rect x="{x}" y="{y}" width="14" height="14" fill="{legend[i].Color}"/><text x="{x + 20}" y="{y + 12}">{Escape(legend[i].Name)}</text>""").Append('\n');
        }

        svg.Append(CultureInfo.InvariantCulture, $"""<text x="10" y="{legendY + 16 + legendLines * 20}" fill="#555">{Escape($"{Machine}; ratios {FirstRun.Ratio:0.00}× and {SecondRun.Ratio:0.00}×")}</text>""").Append('\n');
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    public static RunComparison Compare(PipelineResult pipeline, FloorResult floor) => new(
        pipeline,
        PhaseTimes.Round(floor.Copy.TotalSeconds),
        PhaseTimes.Round(floor.Upsert.TotalSeconds),
        PhaseTimes.Round(floor.Total.TotalSeconds),
        Math.Round(pipeline.WallSeconds / floor.Total.TotalSeconds, 2),
        Math.Round(pipeline.Items / pipeline.WallSeconds),
        Math.Round(pipeline.Items / floor.Total.TotalSeconds));

    private static string Rss(PipelineResult run, string host) =>
        run.PeakRssMb.TryGetValue(host, out var mb) ? mb.ToString("0", CultureInfo.InvariantCulture) : "?";

    private static string DescribeMachine()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        var memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024);
        return string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessorCount} cores{(cpu is null ? string.Empty : $" ({cpu})")}, {memory:0} GiB");
    }

    private static string? CurrentCommit(string repositoryRoot)
    {
        try
        {
            var info = new ProcessStartInfo("git", ["-C", repositoryRoot, "rev-parse", "--short", "HEAD"]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var git = Process.Start(info);
            var sha = git?.StandardOutput.ReadToEnd().Trim();
            git?.WaitForExit();
            return git?.ExitCode == 0 && !string.IsNullOrEmpty(sha) ? sha : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private static string Escape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
