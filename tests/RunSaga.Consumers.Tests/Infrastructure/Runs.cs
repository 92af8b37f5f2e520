using Npgsql;
using RunSaga.Consumers.Staging;
using RunSaga.Contracts;

namespace RunSaga.Consumers.Tests.Infrastructure;

/// <summary>Stages whole runs for the promotion and lineage specs.</summary>
public static class Runs
{
    /// <summary>Stages the batches under a new run id and returns it.</summary>
    public static async Task<Guid> StageAsync(NpgsqlDataSource dataSource, params (string BatchId, ScrapedItem[] Items)[] batches)
    {
        var runId = Guid.NewGuid();
        var stager = new BatchStager(dataSource);
        foreach (var (batchId, items) in batches)
        {
            await stager.StageAsync(new ItemsScraped { RunId = runId, BatchId = batchId, Items = items }, CancellationToken.None);
        }

        return runId;
    }

    public static Task<string> StagedHashAsync(NpgsqlDataSource dataSource, Guid runId, string key) =>
        dataSource.ScalarAsync<string>(
            "SELECT content_hash FROM runsaga.staged_items WHERE run_id = @run AND key = @key", ("run", runId), ("key", key));
}
