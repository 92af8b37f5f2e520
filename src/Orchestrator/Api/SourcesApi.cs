using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace RunSaga.Orchestrator.Api;

/// <summary>A source with its last run, last successful run, item count and health.</summary>
/// <param name="Health"><c>ok</c>; <c>failing</c> (its newest run failed); <c>stale</c> (no run completed within
/// SOURCE_STALE_AFTER); <c>withheld</c> (retention waits for an operator's release). The first that applies of
/// withheld, failing, stale.</param>
public sealed record SourceView(string Source, RunBrief? LastRun, RunBrief? LastSuccessfulRun, long Items, string Health, string? HealthReason);

public sealed record RunBrief(Guid Id, string Status, string ProcessType, DateTime CreatedAt, DateTime? FinishedAt, string? ErrorCode);

public sealed class SourceHealthOptions
{
    /// <summary>A source with no completed run for this long is <c>stale</c>.</summary>
    [Microsoft.Extensions.Configuration.ConfigurationKeyName("SOURCE_STALE_AFTER")]
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromDays(2);
}

public static class SourcesApi
{
    private const string Sql = """
        WITH sources AS (SELECT DISTINCT source FROM runsaga.runs WHERE source IS NOT NULL)
        SELECT s.source,
               l.id, l.status, l.process_type, l.created_at, coalesce(l.completed_at, l.failed_at), l.error_code,
               c.id, c.status, c.process_type, c.created_at, c.completed_at, c.error_code,
               (SELECT count(*) FROM runsaga.projects p WHERE p.source = s.source),
               coalesce(sr.withheld, false), sr.withheld_reason
        FROM sources s
        LEFT JOIN LATERAL (SELECT * FROM runsaga.runs r WHERE r.source = s.source AND r.duplicate_of IS NULL
                           ORDER BY r.created_at DESC, r.id DESC LIMIT 1) l ON true
        LEFT JOIN LATERAL (SELECT * FROM runsaga.runs r WHERE r.source = s.source AND r.status = 'Completed'
                           ORDER BY r.completed_at DESC NULLS LAST, r.id DESC LIMIT 1) c ON true
        LEFT JOIN runsaga.source_retention sr ON sr.source = s.source
        WHERE @source::text IS NULL OR s.source = @source
        ORDER BY s.source
        """;

    public static void MapSourcesApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/sources", List).WithTags("Sources").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("Every source with its last run, last successful run, item count and health");
        app.MapGet("/sources/{source}", SourceDetail.Get).WithTags("Sources").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("One source: its health, its last runs with their counts and durations (keyset pages), and its retention state");
    }

    public static async Task<Ok<IReadOnlyList<SourceView>>> List(
        NpgsqlDataSource dataSource, IOptions<SourceHealthOptions> health, TimeProvider clock, CancellationToken cancellationToken) =>
        TypedResults.Ok(await ReadAsync(dataSource, null, health.Value, clock, cancellationToken));

    public static async Task<IReadOnlyList<SourceView>> ReadAsync(
        NpgsqlDataSource dataSource, string? source, SourceHealthOptions health, TimeProvider clock, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var views = new List<SourceView>();
        await using var command = dataSource.CreateCommand(Sql);
        command.Parameters.Add(new NpgsqlParameter("source", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)source ?? DBNull.Value });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            RunBrief? Brief(int at) => reader.IsDBNull(at) ? null : new RunBrief(
                reader.GetGuid(at), reader.GetString(at + 1), reader.GetString(at + 2), reader.GetDateTime(at + 3),
                reader.IsDBNull(at + 4) ? null : reader.GetDateTime(at + 4), reader.IsDBNull(at + 5) ? null : reader.GetString(at + 5));
            var last = Brief(1);
            var success = Brief(7);
            var withheld = reader.GetBoolean(14);
            var (state, reason) =
                withheld ? ("withheld", reader.IsDBNull(15) ? "retention is withheld until an operator releases it" : reader.GetString(15))
                : last is { Status: "Failed" } ? ("failing", $"the newest run {last.Id} failed ({last.ErrorCode})")
                : success?.FinishedAt is not { } finished || finished < now - health.StaleAfter
                    ? ("stale", $"no run completed within SOURCE_STALE_AFTER={health.StaleAfter}")
                : ("ok", (string?)null);
            views.Add(new SourceView(reader.GetString(0), last, success, reader.GetInt64(13), state, reason));
        }

        return views;
    }
}
