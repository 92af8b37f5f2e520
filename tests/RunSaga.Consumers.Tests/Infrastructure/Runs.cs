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

    /// <summary>
    /// The run's row in the ledger, as the saga would have written it by the time it sends a command: the Consumers read
    /// source, process type, state and expected counts from it, never from the command. Its batch ids are the batches
    /// staged so far (what a flush would have counted).
    /// </summary>
    public static async Task RecordAsync(
        NpgsqlDataSource dataSource, Guid runId, string source, string sagaState, string processType = "ingestion",
        int? expectedItems = null, int? expectedBatches = null)
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO runsaga.runs (id, saga_state, status, version, source, process_type, created_at, expected_items,
                                      expected_batches, batch_ids, metrics, attempt, retention_withheld)
            VALUES (@run, @state, @status, 1, @source, @process_type, now(), @items, @batches,
                    ARRAY(SELECT batch_id FROM runsaga.staged_batches WHERE run_id = @run), '[]', 1, false)
            ON CONFLICT (id) DO UPDATE SET saga_state = excluded.saga_state, status = excluded.status,
                                           expected_items = excluded.expected_items, expected_batches = excluded.expected_batches,
                                           batch_ids = excluded.batch_ids
            """);
        command.Parameters.AddWithValue("run", runId);
        command.Parameters.AddWithValue("state", sagaState);
        command.Parameters.AddWithValue("status", RunSaga.Shared.Data.RunStatus.Public(sagaState));
        command.Parameters.AddWithValue("source", source);
        command.Parameters.AddWithValue("process_type", processType);
        command.Parameters.AddWithValue("items", (object?)expectedItems ?? DBNull.Value);
        command.Parameters.AddWithValue("batches", (object?)expectedBatches ?? DBNull.Value);
        await command.ExecuteNonQueryAsync();
    }

    public static Task<string> StagedHashAsync(NpgsqlDataSource dataSource, Guid runId, string key) =>
        dataSource.ScalarAsync<string>(
            "SELECT content_hash FROM runsaga.staged_items WHERE run_id = @run AND key = @key", ("run", runId), ("key", key));
}
