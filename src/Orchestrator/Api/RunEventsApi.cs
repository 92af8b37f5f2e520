using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace RunSaga.Orchestrator.Api;

/// <summary>One step of a run's history (<c>runsaga.run_events</c>; see RunEvent for each field).</summary>
public sealed record RunEventView(
    long Id, DateTime RecordedAt, DateTime? SentAt, string Actor, string Event, Guid? MessageId,
    string? StateBefore, string? StateAfter, string Outcome, string? Summary);

/// <summary>
/// The run's batches as one summary rather than a line each (a run may have thousands): how many were staged, when the
/// first and the last were, and what they held. Null once retention archived or deleted the run's staging; the flush
/// verdict's line in the history keeps the counts.
/// </summary>
public sealed record BatchSummary(int Batches, long Items, long NewKeys, long Duplicates, long Rejected, DateTime FirstStagedAt, DateTime LastStagedAt);

/// <summary>A page of a run's history, oldest first, with the batch summary on the first page.</summary>
public sealed record RunEventsPage(Guid RunId, IReadOnlyList<RunEventView> Items, BatchSummary? Batches, string? NextCursor);

/// <summary><c>GET /runs/{id}/events</c>: what happened to a run, in order.</summary>
public static class RunEventsApi
{
    private const string EventsSql = """
        SELECT id, recorded_at, sent_at, actor, event, message_id, state_before, state_after, outcome, summary
        FROM runsaga.run_events
        WHERE run_id = @run AND id > @after
        ORDER BY id
        LIMIT @limit
        """;

    private const string BatchesSql = """
        SELECT count(*)::int, coalesce(sum(item_count), 0), coalesce(sum(staged_count), 0), coalesce(sum(duplicate_count), 0),
               coalesce(sum(rejected_count), 0), min(staged_at), max(staged_at)
        FROM runsaga.staged_batches WHERE run_id = @run
        """;

    private const string KnownSql = """
        SELECT EXISTS (SELECT 1 FROM runsaga.runs WHERE id = @run) OR EXISTS (SELECT 1 FROM runsaga.run_events WHERE run_id = @run)
        """;

    public static void MapRunEventsApi(this IEndpointRouteBuilder app) =>
        app.MapGet("/runs/{id:guid}/events", Events).WithTags("Runs").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("The run's history, oldest first: each message the saga handled and each Consumers step, with keyset pagination");

    /// <summary>GET /runs/{id}/events?limit=&amp;cursor= (cursor: a page's nextCursor).</summary>
    public static async Task<Results<Ok<RunEventsPage>, ProblemHttpResult>> Events(
        Guid id, int? limit, string? cursor, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        if (Problems.Limit(limit) is not { } take)
        {
            return Problems.BadLimit();
        }

        var after = 0L;
        if (cursor is not null && (!long.TryParse(cursor, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out after)))
        {
            return TypedResults.Problem("cursor is not one this API returned (a page's nextCursor)", statusCode: 400, title: "Bad request");
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using (var known = new NpgsqlCommand(KnownSql, connection) { Parameters = { new("run", id) } })
        {
            if (!(bool)(await known.ExecuteScalarAsync(cancellationToken))!)
            {
                return TypedResults.Problem($"No run {id}: it was never requested or started, or it was hard-deleted (see runsaga.run_audit).",
                    statusCode: 404, title: "Not found");
            }
        }

        var events = new List<RunEventView>();
        await using (var read = new NpgsqlCommand(EventsSql, connection) { Parameters = { new("run", id), new("after", after), new("limit", take + 1) } })
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
            while (await reader.ReadAsync(cancellationToken))
            {
                events.Add(new RunEventView(
                    reader.GetInt64(0), reader.GetDateTime(1), reader.IsDBNull(2) ? null : reader.GetDateTime(2), reader.GetString(3),
                    reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetGuid(5), Text(6), Text(7), reader.GetString(8), Text(9)));
            }
        }

        BatchSummary? batches = null;
        if (cursor is null)
        {
            await using var summary = new NpgsqlCommand(BatchesSql, connection) { Parameters = { new("run", id) } };
            await using var reader = await summary.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken) && reader.GetInt32(0) > 0)
            {
                batches = new BatchSummary(reader.GetInt32(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4),
                    reader.GetDateTime(5), reader.GetDateTime(6));
            }
        }

        var next = events.Count > take ? events[take - 1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
        return TypedResults.Ok(new RunEventsPage(id, [.. events.Take(take)], batches, next));
    }
}
