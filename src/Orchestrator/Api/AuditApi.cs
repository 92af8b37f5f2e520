using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.Api;

/// <summary>
/// What retention did, for readers: deleted runs (<c>run_audit</c>), retention cycles (<c>retention_cycles</c>), and a
/// run's staged items (a restored run's, for analysis). Newest first, keyset pages.
/// </summary>
public static class AuditApi
{
    public static void MapAuditApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/audit/runs", DeletedRuns).WithTags("Audit").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("Deletions, undeletions and trash purges of runs: who, why, and the run's row at the time (run_audit), newest first");
        app.MapGet("/retention/cycles", Cycles).WithTags("Audit").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("Retention cycles with their outcome, counts and error (retention_cycles), newest first");
        app.MapGet("/runs/{id:guid}/items", StagedItems).WithTags("Archive").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("The run's staged items, by key: a restored run's, or a run's still in staging");
    }

    /// <summary>GET /audit/runs?source=&amp;limit=&amp;cursor= (the cursor is the last row's id).</summary>
    public static async Task<Results<Ok<Page<RunAuditView>>, ProblemHttpResult>> DeletedRuns(
        RunSagaDbContext db, string? source, int? limit, long? cursor, CancellationToken cancellationToken)
    {
        if (Problems.Limit(limit) is not { } take)
        {
            return Problems.BadLimit();
        }

        if (cursor < 0)
        {
            return BadCursor();
        }

        var query = db.RunAudit.AsNoTracking();
        query = source is null ? query : query.Where(a => a.Source == source);
        query = cursor is null ? query : query.Where(a => a.Id < cursor);
        var rows = await query.OrderByDescending(a => a.Id).Take(take + 1).ToListAsync(cancellationToken);
        var views = rows.Take(take).Select(a => new RunAuditView(
            a.Id, a.RunId, a.Source, a.Action, a.Reason, a.RequestedBy, a.RecordedAt, a.Status, a.FolderName, a.ArchivePath,
            a.StagedItems, a.ErrorCode, JsonCase.CamelCased(a.RunRow, nested: false), a.PublishedBy)).ToList();
        return TypedResults.Ok(new Page<RunAuditView>(views, rows.Count > take ? rows[take - 1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture) : null));
    }

    /// <summary>GET /retention/cycles?source=&amp;outcome=&amp;limit=&amp;cursor= (the cursor is the last cycle's id).</summary>
    public static async Task<Results<Ok<Page<RetentionCycleView>>, ProblemHttpResult>> Cycles(
        RunSagaDbContext db, string? source, string? outcome, int? limit, long? cursor, CancellationToken cancellationToken)
    {
        if (Problems.Limit(limit) is not { } take)
        {
            return Problems.BadLimit();
        }

        if (cursor < 0)
        {
            return BadCursor();
        }

        var query = db.RetentionCycles.AsNoTracking();
        query = source is null ? query : query.Where(c => c.Source == source);
        query = outcome is null ? query : query.Where(c => c.Outcome == outcome);
        query = cursor is null ? query : query.Where(c => c.Id < cursor);
        var rows = await query.OrderByDescending(c => c.Id).Take(take + 1).ToListAsync(cancellationToken);
        var views = rows.Take(take).Select(RetentionCycleView.From).ToList();
        return TypedResults.Ok(new Page<RetentionCycleView>(views, rows.Count > take ? rows[take - 1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture) : null));
    }

    /// <summary>GET /runs/{id}/items?limit=&amp;cursor= (the cursor is the last key of the page).</summary>
    public static async Task<Results<Ok<Page<StagedItemView>>, ProblemHttpResult>> StagedItems(
        Guid id, RunSagaDbContext db, int? limit, string? cursor, CancellationToken cancellationToken)
    {
        if (Problems.Limit(limit) is not { } take)
        {
            return Problems.BadLimit();
        }

        var query = db.StagedItems.AsNoTracking().Where(i => i.RunId == id);
        query = cursor is null ? query : query.Where(i => string.Compare(i.Key, cursor) > 0);
        var rows = await query.OrderBy(i => i.Key).Take(take + 1).ToListAsync(cancellationToken);
        var views = rows.Take(take).Select(i => new StagedItemView(
            i.Key, i.BatchId, i.Title, i.Url, i.Data is null ? null : JsonDocument.Parse(i.Data, DeepData).RootElement.Clone(), i.Error, i.ContentHash)).ToList();
        return TypedResults.Ok(new Page<StagedItemView>(views, rows.Count > take ? rows[take - 1].Key : null));
    }

    private static readonly JsonDocumentOptions DeepData = new() { MaxDepth = RunSaga.Shared.Messaging.BusConfiguration.MaxJsonDepth };

    private static ProblemHttpResult BadCursor() =>
        TypedResults.Problem("cursor is not one this API returned (a page's nextCursor)", statusCode: 400, title: "Bad request");
}

/// <summary>A deleted run: the audit row retention wrote, with the run's whole row as it was (<see cref="RunRow"/>, keys camelCased).</summary>
public sealed record RunAuditView(
    long Id, Guid RunId, string? Source, string Action, string Reason, string RequestedBy, DateTime RecordedAt, string Status,
    string? FolderName, string? ArchivePath, int? StagedItems, string? ErrorCode, JsonElement RunRow, string? PublishedBy = null);

public sealed record RetentionCycleView(
    long Id, string? Source, string Trigger, Guid? RunId, bool DryRun, DateTime StartedAt, DateTime? FinishedAt, string Outcome,
    int ProjectsDeleted, int RunsArchived, int RunsDeleted, string? Reason, string? Error, IReadOnlyList<string> SampleKeys,
    string? RequestedBy = null, string? PublishedBy = null)
{
    public static RetentionCycleView From(RetentionCycle c) => new(
        c.Id, c.Source, c.Trigger, c.RunId, c.DryRun, c.StartedAt, c.FinishedAt, c.Outcome, c.ProjectsDeleted, c.RunsArchived,
        c.RunsDeleted, c.Reason, c.Error, c.SampleKeys, c.RequestedBy, c.PublishedBy);
}

public sealed record StagedItemView(string Key, string BatchId, string? Title, string? Url, JsonElement? Data, string? Error, string ContentHash);
