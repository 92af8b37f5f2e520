using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace RunSaga.Orchestrator.Api;

/// <summary>
/// <c>GET /runs/hourly</c>: how the whole fleet's runs went, hour by hour, for the page's front chart. A run counts in
/// the hour it was created (<c>runs.created_at</c>, truncated to the UTC hour), by its status now: a run created at
/// 08:50 that completed at 09:10 is a completed run of 08:00, and an open run of 08:00 becomes completed or failed there
/// when it ends. Counting by creation keeps every run in exactly one hour, open ones included, and the past hours' totals
/// fixed. Duplicate run ids (never run) are left out, as in <c>GET /sources</c>.
/// </summary>
public static class FleetApi
{
    public const int DefaultHours = 24;

    /// <summary>A week: the page asks for a day; more is for scripts.</summary>
    public const int MaxHours = 168;

    private const string Sql = """
        WITH hours AS (
            SELECT generate_series(date_trunc('hour', @now, 'UTC') - (@hours - 1) * interval '1 hour',
                                   date_trunc('hour', @now, 'UTC'), interval '1 hour') AS hour)
        SELECT h.hour,
               count(r.id) FILTER (WHERE r.status = 'Completed'),
               count(r.id) FILTER (WHERE r.status = 'Failed'),
               count(r.id) FILTER (WHERE r.status = 'Cancelled'),
               count(r.id) FILTER (WHERE r.status NOT IN ('Completed', 'Failed', 'Cancelled'))
        FROM hours h
        LEFT JOIN runsaga.runs r ON r.created_at >= h.hour AND r.created_at < h.hour + interval '1 hour' AND r.duplicate_of IS NULL
        GROUP BY h.hour
        ORDER BY h.hour
        """;

    public static void MapFleetApi(this IEndpointRouteBuilder app) =>
        app.MapGet("/runs/hourly", Hourly).WithTags("Runs").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("Runs per hour (by the hour they were created, UTC) and their outcome now: completed, failed, cancelled, still open");

    /// <summary>GET /runs/hourly?hours= (1–168, 24 by default): one bucket per hour, oldest first, the current hour last.</summary>
    public static async Task<Results<Ok<HourlyRuns>, ProblemHttpResult>> Hourly(
        int? hours, NpgsqlDataSource dataSource, TimeProvider clock, CancellationToken cancellationToken)
    {
        var span = hours ?? DefaultHours;
        if (span is < 1 or > MaxHours)
        {
            return TypedResults.Problem($"hours must be from 1 to {MaxHours}", statusCode: 400, title: "Bad request");
        }

        await using var command = dataSource.CreateCommand(Sql);
        command.Parameters.AddWithValue("now", clock.GetUtcNow().UtcDateTime);
        command.Parameters.AddWithValue("hours", span);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var buckets = new List<HourBucket>(span);
        while (await reader.ReadAsync(cancellationToken))
        {
            buckets.Add(new HourBucket(
                DateTime.SpecifyKind(reader.GetDateTime(0), DateTimeKind.Utc), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4)));
        }

        return TypedResults.Ok(new HourlyRuns(span, "createdAt", buckets));
    }
}

/// <param name="Basis">Which time puts a run in an hour: <c>createdAt</c>.</param>
/// <param name="Buckets">One per hour, oldest first; empty hours are there with zeros.</param>
public sealed record HourlyRuns(int Hours, string Basis, IReadOnlyList<HourBucket> Buckets);

/// <param name="Hour">The hour's start (UTC).</param>
/// <param name="Open">Queued, Running or Flushed now.</param>
public sealed record HourBucket(DateTime Hour, long Completed, long Failed, long Cancelled, long Open);
