using System.Text.Json;

namespace RunSaga.Bench;

/// <summary>Samples the hosts' resident memory (VmRSS) every 100 ms while a measurement runs; keeps the peak of each.</summary>
public sealed class MemorySampler : IAsyncDisposable
{
    private readonly IReadOnlyList<BenchStack.Host> hosts;
    private readonly long[] peaks;
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;

    public MemorySampler(IReadOnlyList<BenchStack.Host> hosts)
    {
        this.hosts = hosts;
        peaks = new long[hosts.Count];
        loop = Task.Run(Sample);
    }

    /// <summary>Peak VmRSS in MiB by host name.</summary>
    public async Task<Dictionary<string, double>> Stop()
    {
        await stop.CancelAsync();
        await loop;
        return hosts.Select((h, i) => (h.Name, Mb: Math.Round(peaks[i] / 1048576.0, 1))).ToDictionary(x => x.Name, x => x.Mb);
    }

    public async ValueTask DisposeAsync()
    {
        if (!stop.IsCancellationRequested)
        {
            await Stop();
        }

        stop.Dispose();
    }

    private async Task Sample()
    {
        while (!stop.IsCancellationRequested)
        {
            for (var i = 0; i < hosts.Count; i++)
            {
                peaks[i] = Math.Max(peaks[i], hosts[i].ResidentBytes());
            }

            try
            {
                await Task.Delay(100, stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }
}

/// <summary>
/// Where a run's time went in the Consumers: each consumer logs the milliseconds of its database work with the run
/// id (<c>ElapsedMs</c>: staging per batch, the flush request, the promotion, the lineage summary). Read from the
/// compact-JSON logs of every Consumers instance (the staging wall time spans them all).
/// </summary>
public sealed record PhaseTimes(
    double StagingSeconds,
    double StagingWallSeconds,
    double FlushSeconds,
    double PromotionSeconds,
    double LineageSeconds,
    Dictionary<string, int> BatchesStagedBy)
{
    /// <summary>Reads the logs of the Consumers instances (name, log file); <see cref="BatchesStagedBy"/> says how the batches were shared.</summary>
    public static PhaseTimes FromLogs(IEnumerable<(string Name, string LogPath)> consumers, Guid runId)
    {
        double staging = 0, flush = 0, promotion = 0, lineage = 0;
        DateTimeOffset? firstStaged = null, lastStaged = null;
        var run = runId.ToString();
        var stagedBy = new Dictionary<string, int>();
        foreach (var (name, logPath) in consumers)
        {
            stagedBy[name] = 0;
            using var stream = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            while (reader.ReadLine() is { } line)
            {
                if (!line.StartsWith('{') || !line.Contains(run, StringComparison.Ordinal) || !line.Contains("\"ElapsedMs\"", StringComparison.Ordinal))
                {
                    continue;
                }

                using var json = JsonDocument.Parse(line);
                var root = json.RootElement;
                if (root.GetProperty("RunId").GetString() != run)
                {
                    continue;
                }

                var ms = root.GetProperty("ElapsedMs").GetDouble();
                var context = root.TryGetProperty("SourceContext", out var c) ? c.GetString() ?? string.Empty : string.Empty;
                if (context.Contains(".Staging.", StringComparison.Ordinal))
                {
                    staging += ms;
                    stagedBy[name]++;
                    var at = root.GetProperty("@t").GetDateTimeOffset();
                    firstStaged = firstStaged is null || at < firstStaged ? at : firstStaged;
                    lastStaged = lastStaged is null || at > lastStaged ? at : lastStaged;
                }
                else if (context.Contains(".Flush.", StringComparison.Ordinal))
                {
                    flush += ms;
                }
                else if (context.Contains(".Promotion.", StringComparison.Ordinal))
                {
                    promotion += ms;
                }
                else if (context.Contains(".Lineage.", StringComparison.Ordinal))
                {
                    lineage += ms;
                }
            }
        }

        var stagingWall = firstStaged is { } f && lastStaged is { } l ? (l - f).TotalSeconds : 0;
        return new PhaseTimes(Round(staging / 1000), Round(stagingWall), Round(flush / 1000), Round(promotion / 1000), Round(lineage / 1000), stagedBy);
    }

    public static double Round(double seconds) => Math.Round(seconds, 2);
}

/// <summary>
/// CPU seconds used by each part of the machine between two snapshots, from <c>/proc/&lt;pid&gt;/stat</c>: the two
/// hosts, PostgreSQL (every <c>postgres</c> process, with the children that already exited), RabbitMQ
/// (<c>beam.smp</c>; neither counts the test cluster's processes) and the benchmark itself (the scraper). On two cores this says who the bottleneck is.
/// </summary>
public sealed class CpuMeter
{
    private static readonly double TicksPerSecond = 100; // USER_HZ on Linux
    private readonly IReadOnlyList<BenchStack.Host> hosts;
    private Dictionary<string, double> start;

    public CpuMeter(IReadOnlyList<BenchStack.Host> hosts)
    {
        this.hosts = hosts;
        start = Snapshot();
    }

    public Dictionary<string, double> Stop()
    {
        var end = Snapshot();
        return end.ToDictionary(e => e.Key, e => Math.Round(e.Value - start.GetValueOrDefault(e.Key), 2));
    }

    private Dictionary<string, double> Snapshot()
    {
        var result = hosts.ToDictionary(h => h.Name, h => Seconds(h.Id, children: false));
        result["postgresql"] = ByName("postgres");
        result["rabbitmq"] = ByName("beam.smp");
        result["bench"] = Seconds(Environment.ProcessId, children: false);
        return result;
    }

    private static double ByName(string name)
    {
        double total = 0;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            var pid = Path.GetFileName(directory);
            if (!int.TryParse(pid, out var id))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(directory, "comm")).Trim() == name && !OfTheTestCluster(directory))
                {
                    total += Seconds(id, children: true);
                }
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return total;
    }

    /// <summary>
    /// The three-node RabbitMQ cluster and the PostgreSQL pair that scripts/test starts for the distributed specs
    /// (<c>runsaga-c1</c>…, <c>15/runsaga-a</c>…) idle beside the broker and database the benchmark uses; their CPU is not the benchmark's.
    /// </summary>
    private static bool OfTheTestCluster(string directory)
    {
        // PostgreSQL names its cluster in every process title; a RabbitMQ node's name is in its environment.
        var commandLine = File.ReadAllText(Path.Combine(directory, "cmdline")).Replace('\0', ' ');
        if (commandLine.Contains("/runsaga-a", StringComparison.Ordinal) || commandLine.Contains("/runsaga-b", StringComparison.Ordinal))
        {
            return true;
        }

        try
        {
            return File.ReadAllText(Path.Combine(directory, "environ")).Contains("RABBITMQ_NODENAME=runsaga-c", StringComparison.Ordinal);
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static double Seconds(int pid, bool children)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After the command: state(0) … utime(11) stime(12) cutime(13) cstime(14).
            var ticks = double.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + double.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
            if (children)
            {
                ticks += double.Parse(fields[13], System.Globalization.CultureInfo.InvariantCulture) + double.Parse(fields[14], System.Globalization.CultureInfo.InvariantCulture);
            }

            return ticks / TicksPerSecond;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
