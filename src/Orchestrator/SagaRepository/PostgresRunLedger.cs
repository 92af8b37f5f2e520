using Microsoft.Extensions.Options;
using Npgsql;
using RunSaga.Orchestrator.Runs;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.SagaRepository;

/// <summary>
/// <see cref="IRunLedger"/> on the message's own <see cref="SagaTransaction"/> (scoped per message, like the
/// repository), so it reads and locks inside the transaction that will save the run.
/// </summary>
public sealed class PostgresRunLedger(SagaTransaction transaction, IOptions<RunSagaOptions> options) : IRunLedger
{
    private const string KeyRuns = """
        SELECT id, source, status, attempt, created_at
        FROM runsaga.runs
        WHERE idempotency_key = @key AND id <> @run AND duplicate_of IS NULL
        ORDER BY created_at DESC, id DESC
        """;

    private const string Promoted = "SELECT EXISTS (SELECT 1 FROM runsaga.run_promotions WHERE run_id = @run)";

    public async Task<KeyStanding> KeyStandingAsync(string idempotencyKey, Guid runId, DateTime createdAt, CancellationToken cancellationToken)
    {
        await using var command = await Command(KeyRuns, cancellationToken);
        command.Parameters.AddWithValue("key", idempotencyKey);
        command.Parameters.AddWithValue("run", runId);
        KeyHolder? holder = null;
        (Guid, int)? lastAttempt = null;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var status = reader.GetString(2);
            if (!RunStatus.EndedUnfinished(status))
            {
                holder ??= new KeyHolder(reader.GetGuid(0), reader.IsDBNull(1) ? null : reader.GetString(1), status);
            }
            else if (lastAttempt is null && reader.GetDateTime(4) <= createdAt)
            {
                lastAttempt = (reader.GetGuid(0), reader.GetInt32(3));
            }
        }

        return new KeyStanding(holder, lastAttempt);
    }

    public async Task<bool> HoldPromotionsAndCheckAsync(Guid runId, string source, CancellationToken cancellationToken)
    {
        // The wait is bounded like a promotion (PROMOTION_TIMEOUT): a lock not granted by then (55P03) is retried by the
        // saga endpoint's policy, so a cancel never holds a message slot without end.
        await using (var timeout = await Command(
            $"SET LOCAL lock_timeout = '{(int)options.Value.PromotionTimeout.TotalMilliseconds}ms'", cancellationToken))
        {
            await timeout.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var lockSource = await Command(AdvisoryLocks.LockSource, cancellationToken))
        {
            lockSource.Parameters.AddWithValue("source", source);
            lockSource.CommandTimeout = (int)options.Value.PromotionTimeout.TotalSeconds + 30;
            await lockSource.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var reset = await Command("SET LOCAL lock_timeout TO DEFAULT", cancellationToken))
        {
            await reset.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var promoted = await Command(Promoted, cancellationToken);
        promoted.Parameters.AddWithValue("run", runId);
        return (bool)(await promoted.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>A command in the saga's transaction (which throws when none is open: the reads and locks belong in it).</summary>
    private Task<NpgsqlCommand> Command(string sql, CancellationToken cancellationToken) =>
        transaction.CommandAsync(sql, prepare: false, cancellationToken);
}
