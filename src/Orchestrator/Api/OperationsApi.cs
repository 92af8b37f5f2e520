using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using RunSaga.Contracts;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;

namespace RunSaga.Orchestrator.Api;

/// <summary>What a command endpoint sent: the work is done by the retention consumer, which publishes the outcome.</summary>
public sealed record Accepted(string Command, Guid? RunId, string? Source, string RequestedBy);

public sealed record PinBody(DateTimeOffset? Until);

public sealed record ApplyBody(string? Source, bool DryRun);

/// <summary>
/// The archive and retention endpoints. Reads come from the ledger; every change is a command to the retention
/// consumer (ArchiveRun, RestoreRun, PinRun, DeleteRun, ReleaseRetention, ApplyRetention), answered 202 Accepted
/// with the key's name as <c>requestedBy</c>. Archive paths come from the run's row, never from the request.
/// </summary>
public static class OperationsApi
{
    public static void MapOperationsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/runs/archived", Archived).WithTags("Archive").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("Runs whose artifacts are archived (and not deleted), newest first");
        app.MapGet("/runs/{id:guid}/archive", Download).WithTags("Archive").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("The run's archive file");

        var runs = app.MapGroup("/runs/{id:guid}").WithTags("Archive").AddEndpointFilter<AuditFilter>();
        runs.MapPost("/archive", (Guid id, HttpContext http, IPublishEndpoint bus, CancellationToken ct) =>
            Send(bus, new ArchiveRun { RunId = id, RequestedBy = http.CallerName() }, new Accepted(nameof(ArchiveRun), id, null, http.CallerName()), ct))
            .RequireAuthorization(ApiRoles.Operator).WithSummary("Archive the run now (ArchiveRun)");
        runs.MapPost("/restore", (Guid id, HttpContext http, IPublishEndpoint bus, CancellationToken ct) =>
            Send(bus, new RestoreRun { RunId = id, RequestedBy = http.CallerName() }, new Accepted(nameof(RestoreRun), id, null, http.CallerName()), ct))
            .RequireAuthorization(ApiRoles.Operator).WithSummary("Unpack the archive back into staging, read-only (RestoreRun)");
        runs.MapPost("/pin", (Guid id, PinBody body, HttpContext http, IPublishEndpoint bus, CancellationToken ct) =>
            Send(bus, new PinRun { RunId = id, Until = body.Until, RequestedBy = http.CallerName() }, new Accepted(nameof(PinRun), id, null, http.CallerName()), ct))
            .RequireAuthorization(ApiRoles.Operator).WithSummary("Keep the run from archival and deletion until 'until' (null unpins) (PinRun)");
        runs.MapDelete("/", Delete).RequireAuthorization(ApiRoles.Admin).WithSummary("Delete the run's artifacts now, audited; reason required (DeleteRun)");
        runs.MapPost("/undelete", Undelete).RequireAuthorization(ApiRoles.Admin)
            .WithSummary("Bring back a soft-deleted run while its archive is in the trash (UndeleteRun): 200 when back, 409 saying why it cannot come back");

        app.MapPost("/sources/{source}/retention/release", (string source, HttpContext http, IPublishEndpoint bus, CancellationToken ct) =>
            Send(bus, new ReleaseRetention { Source = source, ReleasedBy = http.CallerName() }, new Accepted(nameof(ReleaseRetention), null, source, http.CallerName()), ct))
            .WithTags("Retention").RequireAuthorization(ApiRoles.Operator).AddEndpointFilter<AuditFilter>()
            .WithSummary("Release a source's withheld retention (ReleaseRetention)");
        app.MapPost("/retention/apply", (ApplyBody body, HttpContext http, IPublishEndpoint bus, CancellationToken ct) =>
            Send(bus, new ApplyRetention { Source = body.Source, DryRun = body.DryRun, RequestedBy = http.CallerName() },
                new Accepted(nameof(ApplyRetention), null, body.Source, http.CallerName()), ct))
            .WithTags("Retention").RequireAuthorization(ApiRoles.Operator).AddEndpointFilter<AuditFilter>()
            .WithSummary("Run a retention cycle now, or a dry run (ApplyRetention)");
    }

    public static Task<Results<Ok<Page<RunView>>, ProblemHttpResult>> Archived(
        RunSagaDbContext db, DateTime? from, DateTime? to, int? limit, string? cursor, CancellationToken cancellationToken) =>
        RunsApi.ListAsync(db.Runs.AsNoTracking().Where(r => r.ArchivedAt != null && r.DeletedAt == null), null, null, null, from, to, limit, cursor, cancellationToken);

    public static async Task<Results<PhysicalFileHttpResult, ProblemHttpResult>> Download(
        Guid id, RunSagaDbContext db, IOptions<RetentionOptions> retention, CancellationToken cancellationToken)
    {
        var run = await db.Runs.AsNoTracking().Where(r => r.CorrelationId == id).Select(r => new { r.ArchivePath, r.DeletedAt }).FirstOrDefaultAsync(cancellationToken);
        if (run?.ArchivePath is not { } relative)
        {
            return TypedResults.Problem(
                run is null ? $"No run {id}." : run.DeletedAt is null ? $"Run {id} is not archived." : $"Run {id} was deleted; its archive is gone.",
                statusCode: 404, title: "Not found");
        }

        var basePath = Path.GetFullPath(retention.Value.ArchiveBasePath);
        var file = Path.GetFullPath(Path.Combine(basePath, relative));
        if (!file.StartsWith(basePath + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(file))
        {
            return TypedResults.Problem(
                $"The archive of run {id} is not under ARCHIVE_BASE_PATH on this host ({basePath}); the Orchestrator needs the Consumers' archive folder.",
                statusCode: 404, title: "Archive file missing");
        }

        var type = relative.EndsWith(".tar.gz", StringComparison.Ordinal) ? "application/gzip"
            : relative.EndsWith(".tar.zst", StringComparison.Ordinal) ? "application/zstd" : "application/octet-stream";
        return TypedResults.PhysicalFile(file, type, Path.GetFileName(file));
    }

    public static async Task<Results<Accepted<Accepted>, ProblemHttpResult>> Delete(
        Guid id, string? reason, HttpContext http, IPublishEndpoint bus, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(reason))
        {
            return TypedResults.Problem("reason is required (?reason=…): it goes into runsaga.run_audit", statusCode: 400, title: "Bad request");
        }

        return await Send(bus, new DeleteRun { RunId = id, Reason = reason, RequestedBy = http.CallerName() },
            new Accepted(nameof(DeleteRun), id, null, http.CallerName()), cancellationToken);
    }

    /// <summary>
    /// Checks what the Orchestrator can see (the run, its deletion, its archive in the trash under ARCHIVE_BASE_PATH),
    /// answers 404/409 saying why a run cannot come back, else sends <see cref="UndeleteRun"/> and waits up to 30 s for it.
    /// </summary>
    public static async Task<Results<Ok<RunView>, Accepted<Accepted>, ProblemHttpResult>> Undelete(
        Guid id, HttpContext http, RunSagaDbContext db, IOptions<RetentionOptions> retention, IPublishEndpoint bus, CancellationToken cancellationToken)
    {
        var run = await db.Runs.AsNoTracking().FirstOrDefaultAsync(r => r.CorrelationId == id, cancellationToken);
        if (run is null)
        {
            return TypedResults.Problem($"No run {id} in the ledger: a hard-deleted run cannot be undeleted (GET /audit/runs keeps its summary).",
                statusCode: 404, title: "Not found");
        }

        if (run.DeletedAt is null)
        {
            return TypedResults.Problem($"Run {id} is not deleted; nothing to undelete.", statusCode: 409, title: "Not deleted");
        }

        var deletion = await db.RunAudit.AsNoTracking().Where(a => a.RunId == id && a.Action == "deleted")
            .OrderByDescending(a => a.Id).Select(a => new { a.Id, a.ArchivePath }).FirstOrDefaultAsync(cancellationToken);
        if (deletion?.ArchivePath is not { } archivePath)
        {
            return TypedResults.Problem($"Run {id} was deleted before it was ever archived: its items are gone, there is nothing to bring back.",
                statusCode: 409, title: "Nothing to undelete");
        }

        // The Consumers' trash layout (ArchiveFolder.TrashPath): .trash/{run id}/{archive path}.
        var trashFile = Path.Combine(Path.GetFullPath(retention.Value.ArchiveBasePath), ".trash", id.ToString("N"), archivePath);
        var purged = await db.RunAudit.AsNoTracking().AnyAsync(a => a.RunId == id && a.Action == "trash-purged" && a.Id > deletion.Id, cancellationToken);
        if (purged || !File.Exists(trashFile))
        {
            return TypedResults.Problem(
                $"The archive of run {id} is no longer in the trash ({trashFile}): "
                + (purged ? $"it was purged after TRASH_KEEP_DAYS={retention.Value.TrashKeepDays} days" : "it was removed by hand, or this host does not see the archive folder")
                + ". The run cannot be undeleted.",
                statusCode: 409, title: "Archive gone");
        }

        await bus.Publish(new UndeleteRun { RunId = id, RequestedBy = http.CallerName() }, cancellationToken);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(100, cancellationToken);
            if (await db.Runs.AsNoTracking().FirstAsync(r => r.CorrelationId == id, cancellationToken) is { DeletedAt: null } back)
            {
                return TypedResults.Ok(RunView.From(back, withSteps: true));
            }
        }

        return TypedResults.Accepted($"/runs/{id}", new Accepted(nameof(UndeleteRun), id, run.Source, http.CallerName()));
    }

    private static async Task<Results<Accepted<Accepted>, ProblemHttpResult>> Send<T>(IPublishEndpoint bus, T command, Accepted accepted, CancellationToken cancellationToken)
        where T : class
    {
        await bus.Publish(command, cancellationToken);
        return TypedResults.Accepted(accepted.RunId is { } run ? $"/runs/{run}" : (string?)null, accepted);
    }
}

/// <summary>Every mutating call: a log line and a <c>runsaga.api_audit</c> row with the key's name, after it answered.</summary>
public sealed class AuditFilter(RunSagaDbContext db, ILogger<AuditFilter> logger) : IEndpointFilter
{
    /// <summary>The status of an audit row whose call has not answered yet (or never did: the client went away).</summary>
    public const int NotAnswered = 0;

    /// <summary>
    /// The audit row is committed before the call does anything (no command is sent without it, and a dropped connection
    /// cannot skip it); the answer's status is filled in afterwards. Neither write takes the request's cancellation.
    /// </summary>
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var key = http.User.Identity?.Name ?? "(none)";
        var audit = new ApiAudit
        {
            KeyName = key,
            Method = http.Request.Method,
            Path = http.Request.Path + http.Request.QueryString,
            Status = NotAnswered,
            RecordedAt = DateTime.UtcNow,
        };
        db.ApiAudit.Add(audit);
        await db.SaveChangesAsync(CancellationToken.None);

        var status = StatusCodes.Status500InternalServerError;
        try
        {
            var result = await next(context);
            var answer = result is INestedHttpResult nested ? nested.Result : result;
            status = answer is IStatusCodeHttpResult { StatusCode: { } code } ? code : http.Response.StatusCode;
            return result;
        }
        finally
        {
            logger.LogInformation("API {Method} {Path}{Query} by key {KeyName}: {Status}", http.Request.Method, http.Request.Path, http.Request.QueryString, key, status);
            try
            {
                // By id, touching nothing else the handler may have left tracked in the context.
                await db.ApiAudit.Where(a => a.Id == audit.Id)
                    .ExecuteUpdateAsync(a => a.SetProperty(x => x.Status, status), CancellationToken.None);
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or TimeoutException or InvalidOperationException)
            {
                // The call has acted and its audit row says so (status 0); a failed update must not turn its answer into
                // a 500 that invites a second, duplicate call.
                logger.LogWarning(ex, "API {Method} {Path}: the audit row {AuditId} keeps status 0 (the call answered {Status})",
                    http.Request.Method, http.Request.Path, audit.Id, status);
            }
        }
    }
}
