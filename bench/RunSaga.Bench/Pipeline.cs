using System.Diagnostics;

namespace RunSaga.Bench;

/// <summary>What a run must end with in <c>runsaga.runs</c>; the benchmark fails when it does not.</summary>
public sealed record Expected(int Inserted, int Updated, int Unchanged, int Published);

/// <summary>One pipeline run, measured.</summary>
public sealed record PipelineResult(
    string Name,
    Guid RunId,
    int Items,
    int Batches,
    double PublishSeconds,
    double WallSeconds,
    int Inserted,
    int Updated,
    int Unchanged,
    Dictionary<string, double> PeakRssMb,
    PhaseTimes Phases,
    long ProjectRowsWritten,
    Dictionary<string, double> CpuSeconds);

/// <summary>
/// A run through RunSaga as a scraper publishes it: <c>RunRequested</c>, <c>RunStarted</c>, the batches, then
/// <c>ScrapeCompleted</c>, timed from the first publish to the arrival of <c>RunCompleted</c>. The run's row must
/// then show the expected counts.
/// </summary>
public sealed class Pipeline(BenchStack stack, Scraper scraper, Stopwatch clock, BenchOptions options)
{
    public async Task<PipelineResult> Run(string name, IEnumerable<BenchItem> items, Expected expected, string source = Floor.Source)
    {
        var runId = Guid.NewGuid();
        await Checkpoint();
        var before = await CurrentTransaction();
        Console.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] pipeline, {name}: run {runId}");

        var sampler = new MemorySampler(stack.Hosts);
        var cpu = new CpuMeter(stack.Hosts);
        var start = clock.Elapsed;
        await scraper.Publish("RunRequested", Envelope.RunRequested(runId, source));
        await scraper.Publish("RunStarted", Envelope.RunStarted(runId, source));

        int published = 0, batches = 0;
        await scraper.PublishAll(DataSet.Batches(items, options.Batch).Select(batch =>
        {
            published += batch.Count;
            return ("ItemsScraped", Envelope.ItemsScraped(runId, Envelope.BatchId(batches++), batch));
        }));
        await scraper.Publish("ScrapeCompleted", Envelope.ScrapeCompleted(runId, published, batches));
        var publishSeconds = (clock.Elapsed - start).TotalSeconds;

        var end = await scraper.WaitForEnd(runId, TimeSpan.FromMinutes(60));
        var peaks = await sampler.Stop();
        var cpuSeconds = cpu.Stop();
        var wall = (end.At - start).TotalSeconds;
        if (!end.Completed)
        {
            throw new InvalidOperationException($"Run {runId} failed: {end.Body}. See the hosts' logs in .run/bench/ (consumers*.log, orchestrator*.log).");
        }

        // The benchmark's virtual host and database have fixed names: a host left over from a killed benchmark (of any
        // clone) reconnects to their new incarnation and takes a share of the work, unseen. Refuse such a measurement.
        if (await scraper.StagingConsumers() is var consumers && consumers != stack.Consumers.Count())
        {
            throw new InvalidOperationException(
                $"runsaga.staging in {BenchStack.VirtualHostName} has {consumers} consumers, but the benchmark started {stack.Consumers.Count()}: "
                + "another process works in the benchmark's virtual host (a host left over from a killed benchmark? see `pgrep -fa RunSaga.Consumers`). "
                + "Stop it and run the benchmark again.");
        }

        var counts = await Counts(runId);
        if (counts != (expected.Inserted, expected.Updated, expected.Unchanged) || published != expected.Published)
        {
            throw new InvalidOperationException(
                $"Run {runId} completed with (inserted, updated, unchanged) = {counts} after {published} items; expected "
                + $"({expected.Inserted}, {expected.Updated}, {expected.Unchanged}) after {expected.Published}.");
        }

        // The hosts' logs reach their files through a pipe and lag behind under load: wait (up to 30 s) until every batch's
        // staging line is there, so the phase times cover the whole run.
        var logs = stack.Consumers.Select(c => (c.Name, c.LogPath)).ToList();
        var phases = PhaseTimes.FromLogs(logs, runId);
        for (var waited = 0; phases.BatchesStagedBy.Values.Sum() < batches && waited < 60; waited++)
        {
            await Task.Delay(500);
            phases = PhaseTimes.FromLogs(logs, runId);
        }

        await Task.Delay(500); // the last lines after staging (promotion, lineage)
        phases = PhaseTimes.FromLogs(logs, runId);
        var writes = await ProjectRowsWrittenSince(source, before);
        Console.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] pipeline, {name}: {published:N0} items in {wall:0.00} s "
            + $"(published in {publishSeconds:0.00} s); inserted {counts.Inserted:N0}, updated {counts.Updated:N0}, unchanged {counts.Unchanged:N0}; "
            + $"{writes:N0} rows of projects written; peak RSS {string.Join(", ", peaks.Select(p => $"{p.Key} {p.Value} MiB"))}; "
            + $"CPU s {string.Join(", ", cpuSeconds.Select(c => $"{c.Key} {c.Value}"))}; "
            + $"batches staged by {string.Join(", ", phases.BatchesStagedBy.Select(b => $"{b.Key} {b.Value}"))}");

        return new PipelineResult(name, runId, published, batches, PhaseTimes.Round(publishSeconds), PhaseTimes.Round(wall),
            counts.Inserted, counts.Updated, counts.Unchanged, peaks, phases, writes, cpuSeconds);
    }

    private async Task<(int Inserted, int Updated, int Unchanged)> Counts(Guid runId)
    {
        await using var command = stack.DataSource.CreateCommand(
            "SELECT coalesce(inserted, -1), coalesce(updated, -1), coalesce(unchanged, -1) FROM runsaga.runs WHERE id = $1");
        command.Parameters.AddWithValue(runId);
        await using var reader = await command.ExecuteReaderAsync();
        return await reader.ReadAsync()
            ? (reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2))
            : throw new InvalidOperationException($"Run {runId} has no row in runsaga.runs.");
    }

    /// <summary>The current transaction id: rows of <c>projects</c> whose version is newer were written after it.</summary>
    private async Task<long> CurrentTransaction()
    {
        await using var command = stack.DataSource.CreateCommand("SELECT (pg_current_xact_id()::text::bigint % 4294967296)");
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Rows of <c>project_rows</c> (the storage behind <c>projects</c>) whose current version a transaction after <paramref name="since"/> wrote (inserted or rewrote).</summary>
    private async Task<long> ProjectRowsWrittenSince(string source, long since)
    {
        await using var command = stack.DataSource.CreateCommand(
            "SELECT count(*) FROM runsaga.project_rows WHERE source = $1 AND xmin::text::bigint > $2");
        command.Parameters.AddWithValue(source);
        command.Parameters.AddWithValue(since);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private async Task Checkpoint()
    {
        await using var command = stack.DataSource.CreateCommand("CHECKPOINT");
        await command.ExecuteNonQueryAsync();
    }
}
