using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace RunSaga.Orchestrator.Api;

/// <summary>An item of a source as it stands, with the runs and batch behind it.</summary>
public sealed record ProjectView(
    string Source, string Key, string? Title, string? Url, System.Text.Json.JsonElement? Data, string Status, string? Error, string ContentHash,
    RunBrief? CreatedBy, RunBrief? LastUpdatedBy, RunBrief? LastConfirmedBy, string BatchId, DateTime FirstSeenAt, DateTime LastSeenAt, DateTime UpdatedAt);

/// <summary>One change of one item (<c>created</c>, <c>updated</c>, <c>errored</c>, <c>deleted</c>).</summary>
public sealed record ChangeView(long Id, string Source, string Key, Guid RunId, string? BatchId, string Change, string? ContentHash, DateTime RecordedAt);

public static class ProjectsApi
{
    private const string RunBriefColumns = "id, status, process_type, created_at, coalesce(completed_at, failed_at), error_code";

    public static void MapProjectsApi(this IEndpointRouteBuilder app)
    {
        var projects = app.MapGroup("/projects").WithTags("Projects").RequireAuthorization(ApiRoles.Reader);
        projects.MapGet("/{source}/{key}", Get).WithSummary("An item with the runs and batch behind it (a key with '/' is sent as %2F)");
        projects.MapGet("/{source}/{key}/lineage", Lineage).WithSummary("Every change of an item, oldest first");
        app.MapGet("/runs/{id:guid}/changes", Changes).WithTags("Runs").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("What a run created, updated, errored or deleted (change=), in keyset pages");
    }

    public static async Task<Results<Ok<ProjectView>, ProblemHttpResult>> Get(
        string source, string key, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        key = Unescape(key);
        await using var command = dataSource.CreateCommand("""
            SELECT source, key, title, url, data::text, status, error, content_hash, created_by_run_id, last_updated_by_run_id,
                   last_confirmed_run_id, batch_id, first_seen_at, last_seen_at, updated_at
            FROM runsaga.projects WHERE source = @source AND key = @key
            """);
        command.Parameters.AddWithValue("source", source);
        command.Parameters.AddWithValue("key", key);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            await reader.DisposeAsync();
            return await ItemNotFound(dataSource, source, key, cancellationToken);
        }

        string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
        var data = Text(4) is { } json ? System.Text.Json.JsonDocument.Parse(json, DeepData).RootElement.Clone() : (System.Text.Json.JsonElement?)null;
        var (created, updated, confirmed) = (reader.GetGuid(8), reader.GetGuid(9), reader.GetGuid(10));
        var view = new ProjectView(
            reader.GetString(0), reader.GetString(1), Text(2), Text(3), data, reader.GetString(5), Text(6), reader.GetString(7),
            CreatedBy: null, LastUpdatedBy: null, LastConfirmedBy: null,
            reader.GetString(11), reader.GetDateTime(12), reader.GetDateTime(13), reader.GetDateTime(14));
        await reader.DisposeAsync();

        // A run hard-deleted by retention is missing here (null); runsaga.run_audit keeps its summary.
        var runs = await BriefsAsync(dataSource, [created, updated, confirmed], cancellationToken);
        return TypedResults.Ok(view with
        {
            CreatedBy = runs.GetValueOrDefault(created),
            LastUpdatedBy = runs.GetValueOrDefault(updated),
            LastConfirmedBy = runs.GetValueOrDefault(confirmed),
        });
    }

    public static async Task<Results<Ok<IReadOnlyList<ChangeView>>, ProblemHttpResult>> Lineage(
        string source, string key, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        key = Unescape(key);
        var changes = await ChangesAsync(dataSource, """
            SELECT id, source, key, run_id, batch_id, change, content_hash, recorded_at FROM runsaga.project_lineage
            WHERE source = @source AND key = @key ORDER BY id
            """, cancellationToken, ("source", source), ("key", key));
        return changes.Count == 0 ? NotFound(source, key) : TypedResults.Ok<IReadOnlyList<ChangeView>>(changes);
    }

    /// <summary>GET /runs/{id}/changes?change=&amp;limit=&amp;cursor= (the cursor is the last change id of the page).</summary>
    public static async Task<Results<Ok<Page<ChangeView>>, ProblemHttpResult>> Changes(
        Guid id, string? change, int? limit, long? cursor, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var take = limit ?? RunsApi.DefaultLimit;
        if (take is < 1 or > RunsApi.MaxLimit || change is not (null or "created" or "updated" or "errored" or "deleted") || cursor < 0)
        {
            return TypedResults.Problem(
                $"limit must be from 1 to {RunsApi.MaxLimit}; change one of created, updated, errored, deleted; cursor a page's nextCursor",
                statusCode: 400, title: "Bad request");
        }

        var changes = await ChangesAsync(dataSource, """
            SELECT id, source, key, run_id, batch_id, change, content_hash, recorded_at FROM runsaga.project_lineage
            WHERE run_id = @run AND (@change::text IS NULL OR change = @change) AND id > @after
            ORDER BY id LIMIT @take
            """, cancellationToken, ("run", id), ("change", (object?)change ?? DBNull.Value), ("after", cursor ?? 0L), ("take", take + 1));
        var next = changes.Count > take ? changes[take - 1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
        return TypedResults.Ok(new Page<ChangeView>([.. changes.Take(take)], next));
    }

    /// <summary>Route values keep <c>%2F</c> encoded; a key may contain '/'.</summary>
    private static string Unescape(string value) => value.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);

    /// <summary>A 404 that says what is true of the item: deleted by retention (when, by which run), or never promoted.</summary>
    private static async Task<ProblemHttpResult> ItemNotFound(NpgsqlDataSource dataSource, string source, string key, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT change, run_id, recorded_at FROM runsaga.project_lineage
            WHERE source = @source AND key = @key ORDER BY id DESC LIMIT 1
            """);
        command.Parameters.AddWithValue("source", source);
        command.Parameters.AddWithValue("key", key);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var detail = !await reader.ReadAsync(cancellationToken)
            ? $"No item '{key}' in source '{source}': it was never promoted (no run of the source carried it)."
            : reader.GetString(0) == "deleted"
                ? $"Item '{key}' of source '{source}' was deleted by retention at {reader.GetDateTime(2):O} (the cycle run {reader.GetGuid(1)} applied): "
                  + $"it was missing from the source's last KEEP_RUNS full runs. Its changes: /projects/{Uri.EscapeDataString(source)}/{Uri.EscapeDataString(key)}/lineage."
                : $"Item '{key}' of source '{source}' is not in projects although its lineage has changes; see its lineage.";
        return TypedResults.Problem(detail, statusCode: 404, title: "Not found");
    }

    private static ProblemHttpResult NotFound(string source, string key) =>
        TypedResults.Problem($"No item '{key}' in source '{source}': it was never promoted (no run of the source carried it).",
            statusCode: 404, title: "Not found");

    /// <summary>Item data may nest 64 levels (staging's rule), deeper than System.Text.Json's default once inside a response.</summary>
    private static readonly System.Text.Json.JsonDocumentOptions DeepData = new() { MaxDepth = RunSaga.Shared.Messaging.BusConfiguration.MaxJsonDepth };

    private static async Task<Dictionary<Guid, RunBrief>> BriefsAsync(NpgsqlDataSource dataSource, Guid[] ids, CancellationToken cancellationToken)
    {
        var briefs = new Dictionary<Guid, RunBrief>();
        await using var command = dataSource.CreateCommand($"SELECT {RunBriefColumns} FROM runsaga.runs WHERE id = ANY(@ids)");
        command.Parameters.AddWithValue("ids", ids.Distinct().ToArray());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            briefs[reader.GetGuid(0)] = new RunBrief(reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetDateTime(3),
                reader.IsDBNull(4) ? null : reader.GetDateTime(4), reader.IsDBNull(5) ? null : reader.GetString(5));
        }

        return briefs;
    }

    private static async Task<List<ChangeView>> ChangesAsync(
        NpgsqlDataSource dataSource, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        var changes = new List<ChangeView>();
        await using var command = dataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.Add(value is DBNull ? new NpgsqlParameter(name, NpgsqlTypes.NpgsqlDbType.Text) { Value = value } : new NpgsqlParameter(name, value));
        }

        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            changes.Add(new ChangeView(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetGuid(3),
                reader.IsDBNull(4) ? null : reader.GetString(4), reader.GetString(5), reader.IsDBNull(6) ? null : reader.GetString(6), reader.GetDateTime(7)));
        }

        return changes;
    }
}
