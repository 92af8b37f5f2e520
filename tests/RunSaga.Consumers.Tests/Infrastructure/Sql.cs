using Npgsql;

namespace RunSaga.Consumers.Tests.Infrastructure;

/// <summary>Small helpers for reading the database in assertions.</summary>
public static class Sql
{
    public static async Task<T> ScalarAsync<T>(this NpgsqlDataSource dataSource, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = dataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        var result = await command.ExecuteScalarAsync();
        return result is DBNull or null ? default! : (T)result;
    }

    public static async Task ExecuteAsync(this NpgsqlDataSource dataSource, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = dataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync();
    }

    /// <summary>A digest of every stored row of <c>projects</c> (<c>project_rows</c>, all columns): equal digests mean byte-identical tables.</summary>
    public static Task<string> ProjectsFingerprintAsync(this NpgsqlDataSource dataSource) =>
        dataSource.ScalarAsync<string>(
            "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY source, key)), 'empty') FROM runsaga.project_rows t");

    public static async Task<ProjectRow?> ProjectAsync(this NpgsqlDataSource dataSource, string source, string key)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT title, url, data::text, content_hash, status, error, created_by_run_id, last_updated_by_run_id,
                   last_confirmed_run_id, batch_id
            FROM runsaga.projects WHERE source = @source AND key = @key
            """);
        command.Parameters.AddWithValue("source", source);
        command.Parameters.AddWithValue("key", key);
        await using var reader = await command.ExecuteReaderAsync();
        if (!await reader.ReadAsync())
        {
            return null;
        }

        return new ProjectRow(
            reader.IsDBNull(0) ? null : reader.GetString(0),
            reader.IsDBNull(1) ? null : reader.GetString(1),
            reader.IsDBNull(2) ? null : reader.GetString(2),
            reader.GetString(3),
            reader.GetString(4),
            reader.IsDBNull(5) ? null : reader.GetString(5),
            reader.GetGuid(6),
            reader.GetGuid(7),
            reader.GetGuid(8),
            reader.GetString(9));
    }

    public static async Task<List<LineageRow>> LineageAsync(this NpgsqlDataSource dataSource, Guid runId)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT key, batch_id, change, content_hash FROM runsaga.project_lineage WHERE run_id = @run ORDER BY key
            """);
        command.Parameters.AddWithValue("run", runId);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<LineageRow>();
        while (await reader.ReadAsync())
        {
            rows.Add(new LineageRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
        }

        return rows;
    }
}

public sealed record ProjectRow(
    string? Title,
    string? Url,
    string? Data,
    string ContentHash,
    string Status,
    string? Error,
    Guid CreatedByRunId,
    Guid LastUpdatedByRunId,
    Guid LastConfirmedRunId,
    string BatchId);

public sealed record LineageRow(string Key, string BatchId, string Change, string ContentHash);
