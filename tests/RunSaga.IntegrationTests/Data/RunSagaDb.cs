using Npgsql;
using RunSaga.IntegrationTests.Fixture;

namespace RunSaga.IntegrationTests.Data;

/// <summary>Reads (and, for fault injection, alters) the test database, the way an operator would with SQL.</summary>
public sealed class RunSagaDb(NpgsqlDataSource dataSource, HostLog log)
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private const string RunColumns = """
        id, status, saga_state, source, process_type, idempotency_key, folder_name,
        started_at, flushed_at, completed_at, failed_at,
        expected_items, expected_batches, staged_items, staged_batches, rejected_items,
        inserted, updated, unchanged, errored, error_code, error_message, error_detail, batch_ids, metrics::text
        """;

    private const string ProjectColumns = """
        key, title, url, data::text, content_hash, status, error,
        created_by_run_id, last_updated_by_run_id, last_confirmed_run_id, batch_id
        """;

    public async Task<RunRow?> FindRun(Guid runId) =>
        (await Query($"SELECT {RunColumns} FROM runsaga.runs WHERE id = @p0", ReadRun, runId)).SingleOrDefault();

    /// <summary>Polls until the run is <c>Completed</c> or <c>Failed</c>; fails with the row and the hosts' log otherwise.</summary>
    public Task<RunRow> WaitForFinalStatus(Guid runId, TimeSpan? timeout = null) =>
        WaitForRun(runId, run => run.Status is "Completed" or "Failed" or "Cancelled", "Completed, Failed or Cancelled", timeout);

    public async Task<RunRow> WaitForRun(Guid runId, Func<RunRow, bool> condition, string description, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var deadline = DateTime.UtcNow + limit;
        RunRow? run;
        while (true)
        {
            run = await FindRun(runId);
            if (run is not null && condition(run))
            {
                return run;
            }

            if (DateTime.UtcNow > deadline)
            {
                break;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"Run {runId} is not {description} after {limit}.{Environment.NewLine}"
            + $"Its row: {(run is null ? "(none)" : run.ToString())}{Environment.NewLine}{log.Tail(60, runId.ToString())}");
        return run!;
    }

    /// <summary>md5 of every stored row of <c>projects</c> (all columns of <c>project_rows</c>, in key order); of one source when given.</summary>
    public async Task<string> ProjectsChecksum(string? source = null)
    {
        const string sql = """
            SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY source, key)), '')
            FROM runsaga.project_rows t
            WHERE @p0::text IS NULL OR t.source = @p0::text
            """;
        return (await Query(sql, r => r.GetString(0), (object?)source ?? DBNull.Value)).Single();
    }

    public Task<List<ProjectRow>> Projects(string source) =>
        Query($"SELECT {ProjectColumns} FROM runsaga.projects WHERE source = @p0 ORDER BY key", ReadProject, source);

    public Task<List<LineageRow>> Lineage(string source) =>
        Query("SELECT key, run_id, batch_id, change, content_hash FROM runsaga.project_lineage WHERE source = @p0 ORDER BY id",
            r => new LineageRow(r.GetString(0), r.GetGuid(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetString(3),
                r.IsDBNull(4) ? null : r.GetString(4)),
            source);

    public async Task<RunLineageRow?> RunLineage(Guid runId) =>
        (await Query("""
            SELECT run_id, source, process_type, discovered, updated, deleted, errored, unchanged, batch_ids
            FROM runsaga.run_lineage WHERE run_id = @p0
            """,
            r => new RunLineageRow(r.GetGuid(0), r.GetString(1), r.GetString(2), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5),
                r.GetInt32(6), r.GetInt32(7), r.GetFieldValue<string[]>(8)),
            runId)).SingleOrDefault();

    /// <summary>A single number: <c>SELECT count(*) …</c> and the like.</summary>
    public async Task<long> Count(string sql, params object[] parameters) =>
        (await Query(sql, r => Convert.ToInt64(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture), parameters)).Single();

    /// <summary>Polls a <c>SELECT count(*) …</c> until it is positive; fails after 30 s.</summary>
    public async Task WaitForRow(string countSql, params object[] parameters)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await Count(countSql, parameters) == 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No row after 30 s for: {countSql} ({string.Join(", ", parameters)})");
            }

            await Task.Delay(100);
        }
    }

    public async Task Execute(string sql, params object[] parameters)
    {
        await using var command = Command(sql, parameters);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// Whether a promotion statement is running now. pg_stat_activity shows a statement's first 1,024 bytes
    /// (track_activity_query_size), so this matches the promotion's opening.
    /// </summary>
    public async Task<bool> PromotionStatementIsRunning() =>
        await Count("""
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
              AND query LIKE 'WITH stamp AS (%'
            """) > 0;

    /// <summary>
    /// Runs <paramref name="plpgsql"/> before each insert into <c>runsaga.projects</c> of <paramref name="source"/> (of
    /// one <paramref name="key"/>, when given): a trigger that holds or fails a promotion at a chosen row. Disposing
    /// the result removes it.
    /// </summary>
    public Task<IAsyncDisposable> OnProjectsInsert(string source, string? key, string plpgsql) =>
        OnInsert("runsaga.project_rows", key is null ? $"NEW.source = '{source}'" : $"NEW.source = '{source}' AND NEW.key = '{key}'", plpgsql);

    /// <summary>
    /// Runs <paramref name="plpgsql"/> before the row of <paramref name="key"/> of run <paramref name="runId"/> is written
    /// into <c>runsaga.staged_items</c> (a COPY fires it too): a trigger that holds staging at a chosen row.
    /// </summary>
    public Task<IAsyncDisposable> OnStagedInsert(Guid runId, string key, string plpgsql) =>
        OnInsert("runsaga.staged_items", $"NEW.run_id = '{runId}' AND NEW.key = '{key}'", plpgsql);

    private async Task<IAsyncDisposable> OnInsert(string table, string when, string plpgsql)
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var function = $"runsaga.it_on_insert_{suffix}";
        var trigger = $"it_on_insert_{suffix}";
        await Execute($"""
            CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                {plpgsql}
                RETURN NEW;
            END $$;
            CREATE TRIGGER {trigger} BEFORE INSERT ON {table} FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {function}();
            """);
        return new Cleanup(() => Execute($"DROP TRIGGER IF EXISTS {trigger} ON {table}; DROP FUNCTION IF EXISTS {function}();"));
    }

    private sealed class Cleanup(Func<Task> cleanup) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await cleanup();
    }

    public async Task<List<T>> Query<T>(string sql, Func<NpgsqlDataReader, T> read, params object[] parameters)
    {
        await using var command = Command(sql, parameters);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await reader.ReadAsync())
        {
            rows.Add(read(reader));
        }

        return rows;
    }

    /// <summary>Parameters are positional: <c>@p0</c>, <c>@p1</c>, …</summary>
    private NpgsqlCommand Command(string sql, object[] parameters)
    {
        var command = dataSource.CreateCommand(sql);
        for (var i = 0; i < parameters.Length; i++)
        {
            command.Parameters.AddWithValue($"p{i}", parameters[i]);
        }

        return command;
    }

    private static RunRow ReadRun(NpgsqlDataReader r) => new(
        r.GetGuid(0), r.GetString(1), r.GetString(2), Text(r, 3), r.GetString(4), Text(r, 5), Text(r, 6),
        Time(r, 7), Time(r, 8), Time(r, 9), Time(r, 10),
        Int(r, 11), Int(r, 12), Int(r, 13), Int(r, 14), Int(r, 15),
        Int(r, 16), Int(r, 17), Int(r, 18), Int(r, 19), Text(r, 20), Text(r, 21), Text(r, 22),
        r.GetFieldValue<string[]>(23), r.GetString(24));

    private static ProjectRow ReadProject(NpgsqlDataReader r) => new(
        r.GetString(0), Text(r, 1), Text(r, 2), Text(r, 3), r.GetString(4), r.GetString(5), Text(r, 6),
        r.GetGuid(7), r.GetGuid(8), r.GetGuid(9), r.GetString(10));

    private static string? Text(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static int? Int(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt32(i);

    private static DateTime? Time(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetDateTime(i);
}
