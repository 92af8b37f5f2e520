using Microsoft.Extensions.Options;
using Npgsql;
using RunSaga.Consumers.Promotion;
using RunSaga.Consumers.Retention;
using RunSaga.Consumers.Tests.Infrastructure;
using RunSaga.Shared.Hosting;
using static RunSaga.Consumers.Tests.Infrastructure.Scrape;

namespace RunSaga.Consumers.Tests.Retention;

/// <summary>
/// Builds one source's run history the way the pipeline leaves it — staged, promoted, and the run's ledger row
/// in its final status — and runs retention cycles over it with a fixed clock.
/// </summary>
public sealed class SourceHistory(NpgsqlDataSource dataSource, int keepRuns = 3, double minRunRatio = 0.5)
{
    private readonly RunPromoter promoter = new(dataSource, Options.Create(new RunSagaOptions()));
    private DateTime clock = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    public string Source { get; } = NewSource();

    public SourcePruner Pruner => new(
        dataSource,
        Options.Create(new RetentionOptions { KeepRuns = keepRuns, MinRunRatio = minRunRatio }),
        new FixedClock(() => clock));

    /// <summary>A run that saw <paramref name="keys"/>, promoted and Completed.</summary>
    public async Task<Guid> Completed(string processType, params string[] keys)
    {
        var run = await Runs.StageAsync(dataSource, ("b1", keys.Select(k => Item(k)).ToArray()));
        await promoter.PromoteAsync(run, Source, processType, CancellationToken.None);
        await Ledger(run, processType, "Completed", keys.Length);
        return run;
    }

    /// <summary>A run that ended (or stands) in <paramref name="status"/> without promotion.</summary>
    public async Task<Guid> Unfinished(string status, string processType = "ingestion")
    {
        var run = Guid.NewGuid();
        await Ledger(run, processType, status, 0);
        return run;
    }

    public Task<PruneResult> Prune(bool dryRun = false) =>
        Pruner.PruneAsync(Source, "manual", null, dryRun, CancellationToken.None);

    public Task<long> Count() =>
        dataSource.ScalarAsync<long>("SELECT count(*) FROM runsaga.projects WHERE source = @source", ("source", Source));

    public async Task<bool> Has(string key) => await dataSource.ProjectAsync(Source, key) is not null;

    private async Task Ledger(Guid run, string processType, string status, int stagedItems)
    {
        clock = clock.AddMinutes(10);
        await dataSource.ExecuteAsync("""
            INSERT INTO runsaga.runs (id, version, saga_state, status, source, process_type, created_at, staged_items, batch_ids, metrics, retention_withheld)
            VALUES (@id, 1, @status, @status, @source, @process_type, @created_at, @staged_items, '{}', '[]', false)
            """,
            ("id", run), ("status", status), ("source", Source), ("process_type", processType), ("created_at", clock), ("staged_items", stagedItems));
    }

    private sealed class FixedClock(Func<DateTime> now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => new(now(), TimeSpan.Zero);
    }
}
