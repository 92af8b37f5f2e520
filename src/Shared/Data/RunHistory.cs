using Npgsql;
using NpgsqlTypes;

namespace RunSaga.Shared.Data;

/// <summary>One step of a run's history, as it is written (<see cref="RunEvent"/> has the meaning of each field).</summary>
public sealed record RunHistoryEntry(
    Guid RunId,
    string Actor,
    string Event,
    string Outcome,
    string? Summary,
    Guid? MessageId = null,
    DateTime? SentAt = null,
    string? StateBefore = null,
    string? StateAfter = null);

/// <summary>
/// Appends to <c>runsaga.run_events</c> in the caller's transaction, so a step and its history commit or roll back
/// together. Bounded per run: once a run has <see cref="RowsBeforeOnlyTransitions"/> rows, only steps that move the saga
/// to another state are added (a hostile or looping publisher cannot grow a run's history without limit), and batches
/// are never listed one by one unless something about them is worth reading (a redelivery, a late arrival).
/// A step whose message id the run's history already holds from the same actor is written as <c>duplicate</c>.
/// </summary>
public static class RunHistory
{
    public const int RowsBeforeOnlyTransitions = 200;

    private static readonly string InsertSql = $"""
        INSERT INTO runsaga.run_events (run_id, actor, event, outcome, summary, message_id, sent_at, state_before, state_after)
        SELECT $1, $2, $3,
               CASE WHEN $6::uuid IS NOT NULL AND EXISTS (
                        SELECT 1 FROM runsaga.run_events e WHERE e.run_id = $1 AND e.message_id = $6 AND e.actor = $2)
                    THEN 'duplicate' ELSE $4 END,
               $5, $6, $7, $8, $9
        WHERE $8 IS DISTINCT FROM $9
           OR (SELECT count(*) FROM (SELECT 1 FROM runsaga.run_events e WHERE e.run_id = $1 LIMIT {RowsBeforeOnlyTransitions}) r)
              < {RowsBeforeOnlyTransitions}
        """;

    /// <summary>The insert, unless the run's history already holds a step of the same actor and event (a verdict reached again).</summary>
    private static readonly string InsertOnceSql = InsertSql + """

          AND NOT EXISTS (SELECT 1 FROM runsaga.run_events e WHERE e.run_id = $1 AND e.actor = $2 AND e.event = $3)
        """;

    /// <summary>Writes <paramref name="entry"/> in <paramref name="transaction"/>; prepared when <paramref name="prepare"/> (hot paths).</summary>
    /// <param name="once">Only if the run's history has no step of this actor and event yet.</param>
    public static async Task AppendAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, RunHistoryEntry entry, bool prepare, CancellationToken cancellationToken, bool once = false)
    {
        await using var command = new NpgsqlCommand(once ? InsertOnceSql : InsertSql, connection, transaction);
        AddParameters(command.Parameters, entry);
        if (prepare)
        {
            await command.PrepareAsync(cancellationToken);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The insert as one command of a caller's <see cref="NpgsqlBatch"/> (the saga sends it with its other writes).</summary>
    public static NpgsqlBatchCommand Command(RunHistoryEntry entry)
    {
        var command = new NpgsqlBatchCommand(InsertSql);
        AddParameters(command.Parameters, entry);
        return command;
    }

    private static void AddParameters(NpgsqlParameterCollection parameters, RunHistoryEntry entry)
    {
        parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Uuid, Value = entry.RunId });
        parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = entry.Actor });
        parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = entry.Event });
        parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = entry.Outcome });
        parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = Clip(entry.Summary) ?? (object)DBNull.Value });
        parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Uuid, Value = entry.MessageId ?? (object)DBNull.Value });
        parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = entry.SentAt is { } sent ? DateTime.SpecifyKind(sent, DateTimeKind.Utc) : DBNull.Value });
        parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = entry.StateBefore ?? (object)DBNull.Value });
        parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = entry.StateAfter ?? (object)DBNull.Value });
    }

    /// <summary>A summary is a line, not a document: a scraper's error message may be long.</summary>
    private static string? Clip(string? summary) => summary is { Length: > 500 } ? summary[..497] + "..." : summary;
}
