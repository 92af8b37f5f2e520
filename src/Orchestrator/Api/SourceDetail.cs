using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using RunSaga.Orchestrator.Retention;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;

namespace RunSaga.Orchestrator.Api;

/// <summary>
/// <c>GET /sources/{source}</c>: what the page's source view draws, in one answer: the source's health (as in
/// <c>GET /sources</c>), its last runs with the counts and durations its charts need, and where retention stands for it.
/// </summary>
public static class SourceDetail
{
    public const int DefaultLimit = 20;

    // A run that ended before its flush recorded its counts (failed, cancelled) or has not flushed yet shows what staging
    // holds of it, as the run's detail does; a duplicate run id was never run and is left out, as in GET /sources.
    private const string RunsSql = """
        SELECT r.id, r.status, r.process_type, r.created_at, r.started_at, coalesce(r.completed_at, r.failed_at),
               r.expected_items, coalesce(r.staged_items, s.items), coalesce(r.rejected_items, s.rejected),
               r.inserted, r.updated, r.unchanged, r.errored, r.error_code, r.archived_at IS NOT NULL, r.deleted_at IS NOT NULL
        FROM runsaga.runs r
        LEFT JOIN LATERAL (SELECT sum(b.staged_count)::int AS items, sum(b.rejected_count)::int AS rejected
                           FROM runsaga.staged_batches b WHERE b.run_id = r.id AND r.staged_items IS NULL) s ON true
        WHERE r.source = @source AND r.duplicate_of IS NULL
          AND (@after_created::timestamptz IS NULL OR (r.created_at, r.id) < (@after_created, @after_id))
        ORDER BY r.created_at DESC, r.id DESC
        LIMIT @take
        """;

    /// <summary>GET /sources/{source}?limit=&amp;cursor= (limit 1–500, 20 by default; the cursor is a page's nextCursor).</summary>
    public static async Task<Results<Ok<SourceDetailView>, ProblemHttpResult>> Get(
        string source,
        int? limit,
        string? cursor,
        NpgsqlDataSource dataSource,
        RunSagaDbContext db,
        IOptions<SourceHealthOptions> health,
        IOptions<RetentionOptions> retention,
        TimeProvider clock,
        CancellationToken cancellationToken)
    {
        var take = limit ?? DefaultLimit;
        if (take is < 1 or > RunsApi.MaxLimit)
        {
            return TypedResults.Problem($"limit must be from 1 to {RunsApi.MaxLimit}", statusCode: 400, title: "Bad request");
        }

        RunCursor? after = null;
        if (cursor is not null)
        {
            if (!RunCursor.TryDecode(cursor, out var decoded))
            {
                return TypedResults.Problem("cursor is not one this API returned (a page's nextCursor)", statusCode: 400, title: "Bad request");
            }

            after = decoded;
        }

        if ((await SourcesApi.ReadAsync(dataSource, source, health.Value, clock, cancellationToken)).SingleOrDefault() is not { } summary)
        {
            return TypedResults.Problem($"No source '{source}': no run of it was ever recorded.", statusCode: 404, title: "Not found");
        }

        var runs = await ReadRunsAsync(dataSource, source, take + 1, after, cancellationToken);
        var next = runs.Count > take ? new RunCursor(runs[take - 1].CreatedAt, runs[take - 1].Id).Encode() : null;
        return TypedResults.Ok(new SourceDetailView(
            summary, [.. runs.Take(take)], next, await RetentionAsync(db, source, retention.Value, cancellationToken)));
    }

    private static async Task<List<SourceRunView>> ReadRunsAsync(
        NpgsqlDataSource dataSource, string source, int take, RunCursor? after, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(RunsSql);
        command.Parameters.AddWithValue("source", source);
        command.Parameters.AddWithValue("take", take);
        command.Parameters.Add(new NpgsqlParameter("after_created", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = (object?)after?.CreatedAt ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("after_id", NpgsqlTypes.NpgsqlDbType.Uuid) { Value = (object?)after?.Id ?? DBNull.Value });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var runs = new List<SourceRunView>();
        while (await reader.ReadAsync(cancellationToken))
        {
            DateTime? Time(int at) => reader.IsDBNull(at) ? null : reader.GetDateTime(at);
            int? Number(int at) => reader.IsDBNull(at) ? null : reader.GetInt32(at);
            var created = reader.GetDateTime(3);
            var started = Time(4);
            var finished = Time(5);
            runs.Add(new SourceRunView(
                reader.GetGuid(0), reader.GetString(1), reader.GetString(2), created, started, finished,
                finished is { } end ? (end - (started ?? created)).TotalSeconds : null,
                Number(6), Number(7), Number(8), Number(9), Number(10), Number(11), Number(12),
                reader.IsDBNull(13) ? null : reader.GetString(13), reader.GetBoolean(14), reader.GetBoolean(15)));
        }

        return runs;
    }

    /// <summary>Withheld or not and why, the schedule's next occurrence, and the newest cycle (not a dry run) of the source.</summary>
    private static async Task<SourceRetentionView> RetentionAsync(
        RunSagaDbContext db, string source, RetentionOptions options, CancellationToken cancellationToken)
    {
        var state = await db.SourceRetention.AsNoTracking().FirstOrDefaultAsync(s => s.Source == source, cancellationToken);
        var schedule = await db.Schedules.AsNoTracking().FirstOrDefaultAsync(s => s.Name == RetentionScheduleWatcher.ScheduleName, cancellationToken);
        var last = await db.RetentionCycles.AsNoTracking().Where(c => c.Source == source && !c.DryRun)
            .OrderByDescending(c => c.Id).FirstOrDefaultAsync(cancellationToken);
        return new SourceRetentionView(
            state?.Withheld ?? false, state?.WithheldReason, state?.WithheldAt, state?.WithheldByRunId, state?.ReleasedAt, state?.ReleasedBy,
            options.KeepRuns, schedule?.Cron ?? options.Schedule, schedule?.NextFireAt, last is null ? null : RetentionCycleView.From(last));
    }
}

/// <summary>One source for its page: <see cref="Summary"/> as <c>GET /sources</c> shows it, its runs newest first (one keyset page).</summary>
public sealed record SourceDetailView(SourceView Summary, IReadOnlyList<SourceRunView> Runs, string? NextCursor, SourceRetentionView Retention);

/// <summary>A run of the source with what the source page charts.</summary>
/// <param name="DurationSeconds">From its start (or creation, if it never started) to its end; null while it is open.</param>
/// <param name="StagedItems">As recorded by its flush, or what staging holds of it when it has not flushed (or never did).</param>
/// <param name="Archived">Its artifacts are in an archive file (seed 003); its counts stay on the run.</param>
public sealed record SourceRunView(
    Guid Id, string Status, string ProcessType, DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt, double? DurationSeconds,
    int? ExpectedItems, int? StagedItems, int? RejectedItems, int? Inserted, int? Updated, int? Unchanged, int? Errored,
    string? ErrorCode, bool Archived, bool Deleted);

/// <summary>Where retention stands for one source (docs/retention.md).</summary>
/// <param name="Withheld">Retention waits for an operator's release (<c>POST /sources/{source}/retention/release</c>).</param>
/// <param name="Schedule">RETENTION_SCHEDULE, a Quartz cron in UTC.</param>
/// <param name="NextScheduledCycle">The schedule's next occurrence (null before an Orchestrator first recorded it).</param>
/// <param name="LastCycle">The newest cycle for the source that was not a dry run: what it deleted, or why it did not.</param>
public sealed record SourceRetentionView(
    bool Withheld, string? WithheldReason, DateTime? WithheldAt, Guid? WithheldByRunId, DateTime? ReleasedAt, string? ReleasedBy,
    int KeepRuns, string Schedule, DateTime? NextScheduledCycle, RetentionCycleView? LastCycle);
