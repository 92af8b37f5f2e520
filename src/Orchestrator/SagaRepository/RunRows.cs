using Npgsql;
using NpgsqlTypes;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.SagaRepository;

/// <summary>
/// <c>runsaga.runs</c> as the saga reads and writes it, without EF Core: one list of columns, each with how it maps onto
/// <see cref="RunState"/>. The saga writes only its own columns; retention's (<c>archived_at</c>, <c>archive_path</c>,
/// <c>pinned_until</c>, …, see <see cref="RunState"/>) are read, never written here. The statements are fixed text, so
/// PostgreSQL plans each once per connection (they are prepared).
/// </summary>
internal static class RunRows
{
    private sealed record Column(string Name, NpgsqlDbType Type, Func<RunState, object?> Get, Action<RunState, NpgsqlDataReader, int> Read)
    {
        /// <summary>Read with the run, never written by the saga: retention's columns, and the version the statements bump.</summary>
        public bool ReadOnly { get; init; }
    }

    private static readonly Column[] Columns =
    [
        new("id", NpgsqlDbType.Uuid, r => r.CorrelationId, (r, d, i) => r.CorrelationId = d.GetGuid(i)),
        new("saga_state", NpgsqlDbType.Varchar, r => r.CurrentState, (r, d, i) => r.CurrentState = d.GetString(i)),
        new("status", NpgsqlDbType.Varchar, r => r.Status, (r, d, i) => r.Status = d.GetString(i)),
        new("source", NpgsqlDbType.Varchar, r => r.Source, (r, d, i) => r.Source = Text(d, i)),
        new("process_type", NpgsqlDbType.Varchar, r => r.ProcessType, (r, d, i) => r.ProcessType = d.GetString(i)),
        new("idempotency_key", NpgsqlDbType.Varchar, r => r.IdempotencyKey, (r, d, i) => r.IdempotencyKey = Text(d, i)),
        new("attempt", NpgsqlDbType.Integer, r => r.Attempt, (r, d, i) => r.Attempt = d.GetInt32(i)),
        new("retry_of", NpgsqlDbType.Uuid, r => r.RetryOf, (r, d, i) => r.RetryOf = Uuid(d, i)),
        new("duplicate_of", NpgsqlDbType.Uuid, r => r.DuplicateOf, (r, d, i) => r.DuplicateOf = Uuid(d, i)),
        new("cancelled_by", NpgsqlDbType.Varchar, r => r.CancelledBy, (r, d, i) => r.CancelledBy = Text(d, i)),
        new("input_version", NpgsqlDbType.Text, r => r.InputVersion, (r, d, i) => r.InputVersion = Text(d, i)),
        new("pipeline_version", NpgsqlDbType.Text, r => r.PipelineVersion, (r, d, i) => r.PipelineVersion = Text(d, i)),
        new("requested_by", NpgsqlDbType.Text, r => r.RequestedBy, (r, d, i) => r.RequestedBy = Text(d, i)),
        new("folder_name", NpgsqlDbType.Text, r => r.FolderName, (r, d, i) => r.FolderName = Text(d, i)),
        new("created_at", NpgsqlDbType.TimestampTz, r => r.CreatedAt, (r, d, i) => r.CreatedAt = d.GetDateTime(i)),
        new("requested_at", NpgsqlDbType.TimestampTz, r => r.RequestedAt, (r, d, i) => r.RequestedAt = Time(d, i)),
        new("started_at", NpgsqlDbType.TimestampTz, r => r.StartedAt, (r, d, i) => r.StartedAt = Time(d, i)),
        new("flushed_at", NpgsqlDbType.TimestampTz, r => r.FlushedAt, (r, d, i) => r.FlushedAt = Time(d, i)),
        new("completed_at", NpgsqlDbType.TimestampTz, r => r.CompletedAt, (r, d, i) => r.CompletedAt = Time(d, i)),
        new("failed_at", NpgsqlDbType.TimestampTz, r => r.FailedAt, (r, d, i) => r.FailedAt = Time(d, i)),
        new("flush_deadline", NpgsqlDbType.TimestampTz, r => r.FlushDeadline, (r, d, i) => r.FlushDeadline = Time(d, i)),
        new("run_deadline", NpgsqlDbType.TimestampTz, r => r.RunDeadline, (r, d, i) => r.RunDeadline = Time(d, i)),
        new("resend_at", NpgsqlDbType.TimestampTz, r => r.ResendAt, (r, d, i) => r.ResendAt = Time(d, i)),
        new("expected_items", NpgsqlDbType.Integer, r => r.ExpectedItems, (r, d, i) => r.ExpectedItems = Int(d, i)),
        new("expected_batches", NpgsqlDbType.Integer, r => r.ExpectedBatches, (r, d, i) => r.ExpectedBatches = Int(d, i)),
        new("staged_items", NpgsqlDbType.Integer, r => r.StagedItems, (r, d, i) => r.StagedItems = Int(d, i)),
        new("staged_batches", NpgsqlDbType.Integer, r => r.StagedBatches, (r, d, i) => r.StagedBatches = Int(d, i)),
        new("rejected_items", NpgsqlDbType.Integer, r => r.RejectedItems, (r, d, i) => r.RejectedItems = Int(d, i)),
        new("inserted", NpgsqlDbType.Integer, r => r.Inserted, (r, d, i) => r.Inserted = Int(d, i)),
        new("updated", NpgsqlDbType.Integer, r => r.Updated, (r, d, i) => r.Updated = Int(d, i)),
        new("unchanged", NpgsqlDbType.Integer, r => r.Unchanged, (r, d, i) => r.Unchanged = Int(d, i)),
        new("errored", NpgsqlDbType.Integer, r => r.Errored, (r, d, i) => r.Errored = Int(d, i)),
        new("error_code", NpgsqlDbType.Text, r => r.ErrorCode, (r, d, i) => r.ErrorCode = Text(d, i)),
        new("error_message", NpgsqlDbType.Text, r => r.ErrorMessage, (r, d, i) => r.ErrorMessage = Text(d, i)),
        new("error_detail", NpgsqlDbType.Text, r => r.ErrorDetail, (r, d, i) => r.ErrorDetail = Text(d, i)),
        new("batch_ids", NpgsqlDbType.Array | NpgsqlDbType.Text, r => r.BatchIds.ToArray(), (r, d, i) => r.BatchIds = [.. d.GetFieldValue<string[]>(i)]),
        new("metrics", NpgsqlDbType.Jsonb, r => r.Metrics, (r, d, i) => r.Metrics = d.GetString(i)),
        new("metadata", NpgsqlDbType.Jsonb, r => r.Metadata, (r, d, i) => r.Metadata = Text(d, i)),
        new("retention_withheld", NpgsqlDbType.Boolean, r => r.RetentionWithheld, (r, d, i) => r.RetentionWithheld = d.GetBoolean(i)) { ReadOnly = true },
        new("archived_at", NpgsqlDbType.TimestampTz, r => r.ArchivedAt, (r, d, i) => r.ArchivedAt = Time(d, i)) { ReadOnly = true },
        new("archive_path", NpgsqlDbType.Varchar, r => r.ArchivePath, (r, d, i) => r.ArchivePath = Text(d, i)) { ReadOnly = true },
        new("archive_sha256", NpgsqlDbType.Varchar, r => r.ArchiveSha256, (r, d, i) => r.ArchiveSha256 = Text(d, i)) { ReadOnly = true },
        new("pinned_until", NpgsqlDbType.TimestampTz, r => r.PinnedUntil, (r, d, i) => r.PinnedUntil = Time(d, i)) { ReadOnly = true },
        new("restored_at", NpgsqlDbType.TimestampTz, r => r.RestoredAt, (r, d, i) => r.RestoredAt = Time(d, i)) { ReadOnly = true },
        new("deleted_at", NpgsqlDbType.TimestampTz, r => r.DeletedAt, (r, d, i) => r.DeletedAt = Time(d, i)) { ReadOnly = true },
        new("deletion_reason", NpgsqlDbType.Text, r => r.DeletionReason, (r, d, i) => r.DeletionReason = Text(d, i)) { ReadOnly = true },
        new("version", NpgsqlDbType.Integer, r => r.Version, (r, d, i) => r.Version = d.GetInt32(i)) { ReadOnly = true },
    ];

    /// <summary>The saga's own columns after <c>id</c>: what an insert sets and an update may change.</summary>
    private static readonly Column[] SagaColumns = [.. Columns.Skip(1).Where(c => !c.ReadOnly)];

    /// <summary>The run, locked until the transaction ends; no row when it does not exist.</summary>
    public static readonly string LockSql =
        $"SELECT {string.Join(", ", Columns.Select(c => c.Name))} FROM runsaga.runs WHERE id = $1 FOR UPDATE";

    /// <summary>
    /// A new run, unless a row with its id (or its idempotency key) exists: no conflict target, so any conflict means "not
    /// inserted" rather than an error that would poison the transaction.
    /// </summary>
    public static readonly string InsertSql =
        $"INSERT INTO runsaga.runs (id, {string.Join(", ", SagaColumns.Select(c => c.Name))}, version) "
        + $"VALUES ($1, {string.Join(", ", SagaColumns.Select((_, i) => $"${i + 2}"))}, 0) ON CONFLICT DO NOTHING";

    /// <summary>Every saga column of the run, if its version is still the one that was read; bumps the version.</summary>
    public static readonly string UpdateSql =
        $"UPDATE runsaga.runs SET {string.Join(", ", SagaColumns.Select((c, i) => $"{c.Name} = ${i + 2}"))}, version = version + 1 "
        + $"WHERE id = $1 AND version = ${SagaColumns.Length + 2}";

    public const string DeleteSql = "DELETE FROM runsaga.runs WHERE id = $1 AND version = $2";

    public static RunState Read(NpgsqlDataReader reader)
    {
        var run = new RunState();
        for (var i = 0; i < Columns.Length; i++)
        {
            Columns[i].Read(run, reader, i);
        }

        return run;
    }

    /// <summary>The saga's columns as they are now, to tell later whether the message changed anything.</summary>
    public static object?[] Snapshot(RunState run) => [.. SagaColumns.Select(c => c.Get(run))];

    public static bool Changed(RunState run, object?[] snapshot)
    {
        for (var i = 0; i < SagaColumns.Length; i++)
        {
            var now = SagaColumns[i].Get(run);
            var then = snapshot[i];
            if (now is string[] list && then is string[] before ? !list.SequenceEqual(before) : !Equals(now, then))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The parameters of <see cref="InsertSql"/>: the id, then the saga's columns.</summary>
    public static void AddInsertParameters(NpgsqlParameterCollection parameters, RunState run)
    {
        parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Uuid, Value = run.CorrelationId });
        foreach (var column in SagaColumns)
        {
            parameters.Add(new NpgsqlParameter { NpgsqlDbType = column.Type, Value = column.Get(run) ?? DBNull.Value });
        }
    }

    /// <summary>The parameters of <see cref="UpdateSql"/>: those of the insert, then the version that was read.</summary>
    public static void AddUpdateParameters(NpgsqlParameterCollection parameters, RunState run, int versionRead)
    {
        AddInsertParameters(parameters, run);
        parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Integer, Value = versionRead });
    }

    private static string? Text(NpgsqlDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetString(i);

    private static Guid? Uuid(NpgsqlDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetGuid(i);

    private static DateTime? Time(NpgsqlDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetDateTime(i);

    private static int? Int(NpgsqlDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetInt32(i);
}
