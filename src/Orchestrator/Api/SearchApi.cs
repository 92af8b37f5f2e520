using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.Api;

/// <summary>
/// <c>GET /runs/search?q=</c>: the page's one search box. An operator holds a run id, an idempotency key or a folder
/// name (from a log line, a scraper's output, a directory listing) and wants the run; one key can name several runs
/// (failed attempts and their retries), so the answer is a list, the same page of runs as <c>GET /runs</c>, archived and
/// deleted runs included: a search must find what a listing hides.
/// </summary>
public static partial class SearchApi
{
    public static void MapSearchApi(this IEndpointRouteBuilder app) =>
        app.MapGet("/runs/search", Search).WithTags("Runs").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("Runs whose id, idempotency key or folder name is q (exactly), newest first, keyset pages");

    /// <summary>
    /// GET /runs/search?q=&amp;limit=&amp;cursor=. A folder name RunSaga gives a run ends in its id
    /// (<c>YYYYMMDD_HHMMSS_{runId}</c>), so it is found by that id and then compared whole: every branch of the search
    /// uses an index (the primary key, or the idempotency key's).
    /// </summary>
    public static async Task<Results<Ok<Page<RunView>>, ProblemHttpResult>> Search(
        string? q, int? limit, string? cursor, RunSagaDbContext db, CancellationToken cancellationToken)
    {
        var text = q?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return TypedResults.Problem("q is required: a run id, an idempotency key or a folder name", statusCode: 400, title: "Bad request");
        }

        if (text.Length > Runs.RequestLimits.IdempotencyKey)
        {
            return TypedResults.Problem($"q is at most {Runs.RequestLimits.IdempotencyKey} characters (an idempotency key's limit)",
                statusCode: 400, title: "Bad request");
        }

        var query = db.Runs.AsNoTracking();
        if (Guid.TryParse(text, out var id))
        {
            query = query.Where(r => r.CorrelationId == id);
        }
        else
        {
            var folderRun = FolderName().Match(text) is { Success: true } folder ? Guid.Parse(folder.Groups["id"].Value) : (Guid?)null;
            query = query.Where(r => r.IdempotencyKey == text || (folderRun != null && r.CorrelationId == folderRun && r.FolderName == text));
        }

        return await RunsApi.ListAsync(query, null, null, null, null, null, limit, cursor, cancellationToken);
    }

    [GeneratedRegex(@"^\d{8}_\d{6}_(?<id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", RegexOptions.CultureInvariant)]
    private static partial Regex FolderName();
}
