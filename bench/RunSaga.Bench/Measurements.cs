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
/// host's compact-JSON log.
/// </summary>
public sealed record PhaseTimes(double StagingSeconds, double StagingWallSeconds, double FlushSeconds, double PromotionSeconds, double LineageSeconds)
{
    public static PhaseTimes FromLog(string logPath, Guid runId)
    {
        double staging = 0, flush = 0, promotion = 0, lineage = 0;
        DateTimeOffset? firstStaged = null, lastStaged = null;
        var run = runId.ToString();
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

        var stagingWall = firstStaged is { } f && lastStaged is { } l ? (l - f).TotalSeconds : 0;
        return new PhaseTimes(Round(staging / 1000), Round(stagingWall), Round(flush / 1000), Round(promotion / 1000), Round(lineage / 1000));
    }

    public static double Round(double seconds) => Math.Round(seconds, 2);
}
