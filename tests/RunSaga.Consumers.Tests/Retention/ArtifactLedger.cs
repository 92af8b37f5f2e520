using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using RunSaga.Consumers.Retention;
using RunSaga.Consumers.Tests.Infrastructure;
using RunSaga.Shared.Hosting;
using static RunSaga.Consumers.Tests.Infrastructure.Scrape;

namespace RunSaga.Consumers.Tests.Retention;

/// <summary>
/// Finished runs of one source with staged artifacts, an archive folder of their own, and retention over them with
/// a clock the test moves (days pass in <see cref="Advance"/>, not in sleeps).
/// </summary>
public sealed class ArtifactLedger : IDisposable
{
    private readonly NpgsqlDataSource dataSource;
    private DateTime now = new(2026, 3, 10, 12, 0, 0, DateTimeKind.Utc);

    public ArtifactLedger(NpgsqlDataSource dataSource)
    {
        this.dataSource = dataSource;
        Options = new RetentionOptions { ArchiveBasePath = Path.Combine(Path.GetTempPath(), $"runsaga-archive-{Guid.NewGuid():N}") };
    }

    public string Source { get; } = NewSource();

    /// <summary>The knobs; a test changes them before the cycle it means them for.</summary>
    public RetentionOptions Options { get; }

    public DateTime Now => now;

    public RunArtifacts Artifacts => new(dataSource, Folder, Microsoft.Extensions.Options.Options.Create(Options), Clock, NullLogger<RunArtifacts>.Instance);

    public ArchiveFolder Folder => new(Microsoft.Extensions.Options.Options.Create(Options), NullLogger<ArchiveFolder>.Instance);

    private ArtifactCycle ArtifactCycle => new(dataSource, Artifacts, Folder, Microsoft.Extensions.Options.Options.Create(Options), Clock, NullLogger<ArtifactCycle>.Instance);

    private SourcePruner Pruner => new(dataSource, Microsoft.Extensions.Options.Options.Create(Options), Clock);

    private TimeProvider Clock => new MovableClock(() => now);

    public void Advance(double days) => now = now.AddDays(days);

    /// <summary>A run of this source, staged in two batches and finished now with <paramref name="status"/> (not promoted).</summary>
    public async Task<Guid> Finished(string status = "Completed", string? folder = null, int items = 3)
    {
        var keys = Enumerable.Range(1, items).Select(i => $"item-{i:D4}").ToArray();
        var run = await Runs.StageAsync(
            dataSource,
            ("b1", keys.Take(items / 2).Select(k => Item(k, title: $"Title of {k}", data: "{\"n\": \"" + k + "\", \"nested\": {\"a\": [1, 2.50, \"x\\ty\"]}}")).ToArray()),
            ("b2", keys.Skip(items / 2).Select(k => Item(k, url: $"https://example.test/{k}", error: k.EndsWith('3') ? "no price" : null)).ToArray()));
        await dataSource.ExecuteAsync($"""
            INSERT INTO runsaga.runs (id, version, saga_state, status, source, process_type, folder_name, created_at,
                                      {(status is "Failed" or "Cancelled" ? "failed_at" : "completed_at")}, staged_items, batch_ids, metrics, retention_withheld)
            VALUES (@id, 1, @status, @status, @source, 'ingestion', @folder, @created_at, @finished_at, @items, @batch_ids, '[]', false)
            """,
            ("id", run), ("status", status), ("source", Source), ("folder", (object?)folder ?? DBNull.Value),
            ("created_at", now.AddHours(-1)), ("finished_at", now), ("items", items), ("batch_ids", new[] { "b1", "b2" }));
        return run;
    }

    /// <summary>A scheduled cycle for the source: archival, deletion, pruning.</summary>
    public Task<PruneResult> Cycle(bool dryRun = false) =>
        Pruner.RunCycleAsync(Source, "scheduled", null, dryRun,
            ArtifactCycle.PhasesFor(Source, dryRun),
            CancellationToken.None);

    /// <summary>The cycle an all-sources ApplyRetention runs for the runs without a source (and run ids never named).</summary>
    public Task<PruneResult> CycleForRunsWithoutASource(bool dryRun = false) =>
        Pruner.RunCycleAsync(null, "scheduled", null, dryRun,
            ArtifactCycle.PhasesFor(null, dryRun),
            CancellationToken.None);

    /// <summary>The run's staging rows exactly as PostgreSQL renders them (items, then batches).</summary>
    public async Task<string> Staging(Guid run) =>
        await dataSource.ScalarAsync<string>(
            """SELECT coalesce(string_agg(row_to_json(s)::text, E'\n' ORDER BY s.key COLLATE "C"), '') FROM runsaga.staged_items s WHERE s.run_id = @run""",
            ("run", run))
        + "\n--\n"
        + await dataSource.ScalarAsync<string>(
            """SELECT coalesce(string_agg(row_to_json(b)::text, E'\n' ORDER BY b.batch_id COLLATE "C"), '') FROM runsaga.staged_batches b WHERE b.run_id = @run""",
            ("run", run));

    public Task<long> StagedItems(Guid run) =>
        dataSource.ScalarAsync<long>("SELECT count(*) FROM runsaga.staged_items WHERE run_id = @run", ("run", run));

    public async Task<RunArtifactsRow?> Row(Guid run)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT archived_at, archive_path, restored_at, deleted_at, deletion_reason FROM runsaga.runs WHERE id = @run");
        command.Parameters.AddWithValue("run", run);
        await using var reader = await command.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
        {
            return null;
        }

        DateTime? At(int i) => reader.IsDBNull(i) ? null : reader.GetDateTime(i);
        string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
        return new RunArtifactsRow(At(0), Text(1), At(2), At(3), Text(4));
    }

    public string FullPath(string relative) => Path.Combine(Options.ArchiveBasePath, relative);

    public void Dispose()
    {
        if (Directory.Exists(Options.ArchiveBasePath))
        {
            Directory.Delete(Options.ArchiveBasePath, recursive: true);
        }
    }

    private sealed class MovableClock(Func<DateTime> now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => new(now(), TimeSpan.Zero);
    }
}

public sealed record RunArtifactsRow(DateTime? ArchivedAt, string? ArchivePath, DateTime? RestoredAt, DateTime? DeletedAt, string? DeletionReason);
