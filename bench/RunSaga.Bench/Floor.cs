using System.Diagnostics;
using System.Text;
using Npgsql;

namespace RunSaga.Bench;

/// <summary>
/// The raw PostgreSQL floor: what a careful engineer writes by hand without RunSaga, on the same PostgreSQL in
/// the same invocation. <c>psql \copy</c> of the same items into a plain staging table, then one set-based
/// <c>INSERT … ON CONFLICT … DO UPDATE</c> into a table shaped like <c>runsaga.project_rows</c>, the storage behind
/// <c>projects</c> (same columns, keys and indexes: <c>LIKE … INCLUDING ALL</c>) that rewrites only rows whose content
/// changed. No lineage, no
/// run ledger, no idempotency, no guarantee that a failed run leaves the table alone: that is what it costs less.
/// </summary>
public sealed class Floor(BenchStack stack, string workDirectory)
{
    public const string Source = "bench";

    private const string Setup = """
        CREATE SCHEMA IF NOT EXISTS bench_floor;
        DROP TABLE IF EXISTS bench_floor.staging, bench_floor.projects;
        CREATE TABLE bench_floor.staging (key text NOT NULL, title text, url text, data jsonb);
        CREATE TABLE bench_floor.projects (LIKE runsaga.project_rows INCLUDING ALL);
        """;

    /// <summary>The hand-written upsert; <c>:'run'</c> is the run's id (psql variable).</summary>
    private const string Upsert = """
        INSERT INTO bench_floor.projects AS p
            (source, key, title, url, data, content_hash, status, batch_id,
             created_by_run_id, last_updated_by_run_id, confirmed_run_id, first_seen_at, confirmed_at, updated_at)
        SELECT 'bench', s.key, s.title, s.url, s.data,
               md5(coalesce(s.title, '') || chr(31) || coalesce(s.url, '') || chr(31) || coalesce(s.data::text, '')),
               'ok', 'floor', :'run', :'run', :'run', now(), now(), now()
        FROM bench_floor.staging s
        ON CONFLICT (source, key) DO UPDATE SET
            title = excluded.title, url = excluded.url, data = excluded.data, content_hash = excluded.content_hash,
            last_updated_by_run_id = excluded.last_updated_by_run_id, updated_at = excluded.updated_at
        WHERE p.content_hash IS DISTINCT FROM excluded.content_hash;
        """;

    public async Task Prepare()
    {
        await using var command = stack.DataSource.CreateCommand(Setup);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Writes the items as a COPY text file (not timed: the scraper's output exists before either path starts).</summary>
    public string WriteCopyFile(string name, IEnumerable<BenchItem> items)
    {
        var path = Path.Combine(workDirectory, $"{name}.copy");
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false), bufferSize: 1 << 20);
        foreach (var item in items)
        {
            writer.Write(Escape(item.Key));
            writer.Write('\t');
            writer.Write(Escape(item.Title));
            writer.Write('\t');
            writer.Write(Escape(item.Url));
            writer.Write('\t');
            writer.Write(Escape(item.Data));
            writer.Write('\n');
        }

        return path;
    }

    /// <summary>One floor run: TRUNCATE staging (not timed), then \copy and the upsert, each timed as psql runs them.</summary>
    public async Task<FloorResult> Run(string copyFile, Guid runId)
    {
        await using (var truncate = stack.DataSource.CreateCommand("TRUNCATE bench_floor.staging; CHECKPOINT"))
        {
            await truncate.ExecuteNonQueryAsync();
        }

        var copy = await Psql("-c", $"\\copy bench_floor.staging (key, title, url, data) FROM '{copyFile.Replace("'", "''", StringComparison.Ordinal)}'");
        // From a file: psql substitutes :'run' there, not in -c.
        var upsertFile = Path.Combine(workDirectory, "floor-upsert.sql");
        await File.WriteAllTextAsync(upsertFile, Upsert);
        var upsert = await Psql("-v", $"run={runId}", "-f", upsertFile);
        return new FloorResult(copy, upsert);
    }

    public async Task<long> RowCount()
    {
        await using var command = stack.DataSource.CreateCommand("SELECT count(*) FROM bench_floor.projects");
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private async Task<TimeSpan> Psql(params string[] arguments)
    {
        var connection = new NpgsqlConnectionStringBuilder(stack.ConnectionString);
        var info = new ProcessStartInfo("psql") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in new[] { "-X", "-q", "-v", "ON_ERROR_STOP=1" }.Concat(arguments))
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["PGHOST"] = connection.Host;
        info.Environment["PGPORT"] = connection.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["PGUSER"] = connection.Username;
        info.Environment["PGPASSWORD"] = connection.Password;
        info.Environment["PGDATABASE"] = connection.Database;
        // The same transport as the hosts' connections: TLS or not.
        info.Environment["PGSSLMODE"] = connection.SslMode switch
        {
            SslMode.Disable => "disable",
            SslMode.Allow => "allow",
            SslMode.Require => "require",
            SslMode.VerifyCA => "verify-ca",
            SslMode.VerifyFull => "verify-full",
            _ => "prefer",
        };

        var watch = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException("psql did not start; install postgresql-client.");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        watch.Stop();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"psql failed ({process.ExitCode}): {await stderr}{await stdout}");
        }

        return watch.Elapsed;
    }

    private static string Escape(string value)
    {
        if (value.AsSpan().IndexOfAny("\\\t\n\r") < 0)
        {
            return value;
        }

        return value.Replace("\\", "\\\\", StringComparison.Ordinal)
            .Replace("\t", "\\t", StringComparison.Ordinal)
            .Replace("\n", "\\n", StringComparison.Ordinal)
            .Replace("\r", "\\r", StringComparison.Ordinal);
    }
}

public sealed record FloorResult(TimeSpan Copy, TimeSpan Upsert)
{
    public TimeSpan Total => Copy + Upsert;
}
