using Npgsql;

namespace RunSaga.Shared.Data;

/// <summary>
/// A run as the ledger (<c>runsaga.runs</c>) shows it, read by the Consumers before they act on a command: what a
/// command carries about its run (source, process type, counts) is never trusted, and a command for a run in the wrong
/// state is refused.
/// </summary>
/// <param name="SagaState">The saga's internal state (<see cref="RunStatus"/>: Flushing, Flushed, …).</param>
/// <param name="Promoted">The run has a row in <c>run_promotions</c>: a repeated PromoteRun republishes its counts.</param>
/// <param name="FlushRequested">The run has a row in <c>flush_requests</c>: a repeated FlushRun re-checks it.</param>
/// <param name="UnannouncedBatches">Staged batches of the run that its flush did not count (not in <c>runs.batch_ids</c>).</param>
public sealed record LedgerRun(
    Guid Id,
    string? Source,
    string ProcessType,
    string SagaState,
    int? ExpectedItems,
    int? ExpectedBatches,
    bool Promoted,
    bool FlushRequested,
    long UnannouncedBatches = 0)
{
    private const string Sql = """
        SELECT r.source, r.process_type, r.saga_state, r.expected_items, r.expected_batches,
               EXISTS (SELECT 1 FROM runsaga.run_promotions p WHERE p.run_id = r.id),
               EXISTS (SELECT 1 FROM runsaga.flush_requests f WHERE f.run_id = r.id),
               (SELECT count(*) FROM runsaga.staged_batches b WHERE b.run_id = r.id AND NOT (b.batch_id = ANY (r.batch_ids)))
        FROM runsaga.runs r
        WHERE r.id = @run
        """;

    /// <summary>The run's ledger row, or null when the ledger has no run of that id.</summary>
    public static async Task<LedgerRun?> ReadAsync(NpgsqlDataSource dataSource, Guid runId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(Sql);
        command.Parameters.AddWithValue("run", runId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new LedgerRun(
            runId,
            reader.IsDBNull(0) ? null : reader.GetString(0),
            reader.GetString(1),
            reader.GetString(2),
            reader.IsDBNull(3) ? null : reader.GetInt32(3),
            reader.IsDBNull(4) ? null : reader.GetInt32(4),
            reader.GetBoolean(5),
            reader.GetBoolean(6),
            reader.GetInt64(7));
    }
}
