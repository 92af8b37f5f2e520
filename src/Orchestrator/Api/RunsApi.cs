using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using RunSaga.Contracts;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.Api;

/// <summary><c>/runs</c>: list, detail, and the idempotent run request over HTTP.</summary>
public static class RunsApi
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 500;

    public static RouteGroupBuilder MapRunsApi(this IEndpointRouteBuilder app)
    {
        var runs = app.MapGroup("/runs").WithTags("Runs");
        runs.MapGet("/", List).RequireAuthorization(ApiRoles.Reader).WithSummary("Runs, newest first, with filters and keyset pagination");
        runs.MapGet("/{id:guid}", Get).RequireAuthorization(ApiRoles.Reader).WithSummary("One run with its steps, counts, error and archive state");
        runs.MapPost("/", Request).RequireAuthorization(ApiRoles.Operator).AddEndpointFilter<AuditFilter>()
            .WithSummary("Request a run (idempotent by idempotencyKey): 201 with the new run, 200 with the existing one, 409 for another source's key");
        runs.MapPost("/{id:guid}/cancel", Cancel).RequireAuthorization(ApiRoles.Operator).AddEndpointFilter<AuditFilter>()
            .WithSummary("Cancel a run that has not completed: 200 with the Cancelled run, 409 when it ended or its promotion committed, 202 while the saga waits for a promotion of the source");
        return runs;
    }

    /// <summary>
    /// GET /runs?source=&amp;status=&amp;processType=&amp;from=&amp;to=&amp;limit=&amp;cursor=&amp;include=archived,deleted. Runs whose
    /// artifacts were archived or deleted are left out unless <paramref name="include"/> names them (seed 003).
    /// </summary>
    public static async Task<Results<Ok<Page<RunView>>, ProblemHttpResult>> List(
        RunSagaDbContext db,
        string? include,
        string? source,
        string? status,
        string? processType,
        DateTime? from,
        DateTime? to,
        int? limit,
        string? cursor,
        CancellationToken cancellationToken)
    {
        var included = (include ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (included.Except(["archived", "deleted"]).FirstOrDefault() is { } unknown)
        {
            return TypedResults.Problem($"include takes archived and/or deleted (comma-separated), not '{unknown}'", statusCode: 400, title: "Bad request");
        }

        var query = db.Runs.AsNoTracking();
        query = included.Contains("deleted") ? query : query.Where(r => r.DeletedAt == null);
        query = included.Contains("archived") ? query : query.Where(r => r.ArchivedAt == null || r.DeletedAt != null);
        return await ListAsync(query, source, status, processType, from, to, limit, cursor, cancellationToken);
    }

    /// <summary>Filters and one keyset page of <paramref name="query"/>, newest first.</summary>
    public static async Task<Results<Ok<Page<RunView>>, ProblemHttpResult>> ListAsync(
        IQueryable<RunState> query,
        string? source,
        string? status,
        string? processType,
        DateTime? from,
        DateTime? to,
        int? limit,
        string? cursor,
        CancellationToken cancellationToken)
    {
        if (Problems.Limit(limit) is not { } take)
        {
            return Problems.BadLimit();
        }

        if (status is not null && !RunStatus.All.Contains(status))
        {
            return TypedResults.Problem($"status must be one of {string.Join(", ", RunStatus.All)}", statusCode: 400, title: "Bad request");
        }

        query = source is null ? query : query.Where(r => r.Source == source);
        query = status is null ? query : query.Where(r => r.Status == status);
        query = processType is null ? query : query.Where(r => r.ProcessType == processType);
        query = from is null ? query : query.Where(r => r.CreatedAt >= from.Value.ToUniversalTime());
        query = to is null ? query : query.Where(r => r.CreatedAt < to.Value.ToUniversalTime());
        if (cursor is not null)
        {
            if (!RunCursor.TryDecode(cursor, out var after))
            {
                return TypedResults.Problem("cursor is not one this API returned", statusCode: 400, title: "Bad request");
            }

            query = query.Where(r => r.CreatedAt < after.CreatedAt || (r.CreatedAt == after.CreatedAt && r.CorrelationId.CompareTo(after.Id) < 0));
        }

        var rows = await query.OrderByDescending(r => r.CreatedAt).ThenByDescending(r => r.CorrelationId).Take(take + 1).ToListAsync(cancellationToken);
        var next = rows.Count > take ? new RunCursor(rows[take - 1].CreatedAt, rows[take - 1].CorrelationId).Encode() : null;
        return TypedResults.Ok(new Page<RunView>([.. rows.Take(take).Select(r => RunView.From(r, withSteps: false))], next));
    }

    public static async Task<Results<Ok<RunView>, ProblemHttpResult>> Get(Guid id, RunSagaDbContext db, CancellationToken cancellationToken) =>
        await db.Runs.AsNoTracking().FirstOrDefaultAsync(r => r.CorrelationId == id, cancellationToken) is { } run
            ? TypedResults.Ok(RunView.From(run, withSteps: true, await RunQueries.DetailCountsAsync(db, run, cancellationToken)))
            : TypedResults.Problem($"No run {id}: it was never requested or started, or it was hard-deleted (see runsaga.run_audit).",
                statusCode: 404, title: "Not found");

    /// <summary>
    /// Publishes <see cref="RunRequested"/> and waits for the saga to record the run: 201 when this request created it,
    /// 200 with the existing run when its idempotency key (or run id) was known. Concurrent duplicates race in the
    /// saga's repository, which lets exactly one of them create the run.
    /// </summary>
    public static async Task<Results<Created<RunView>, Ok<RunView>, ProblemHttpResult>> Request(
        RunRequestBody body,
        RunSagaDbContext db,
        IPublishEndpoint publish,
        HttpContext http,
        ILogger<RunRequestBody> logger,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(body.Source))
        {
            return TypedResults.Problem("source is required", statusCode: 400, title: "Bad request");
        }

        if (body.ProcessType is { } type && !ProcessType.All.Contains(type))
        {
            return TypedResults.Problem($"processType must be one of {string.Join(", ", ProcessType.All)}", statusCode: 400, title: "Bad request");
        }

        var runId = body.RunId ?? NewId.NextGuid();
        // Who asked is the key's holder, whatever the body claims.
        var requestedBy = http.User.Identity?.Name;
        var request = new RunRequested
        {
            RunId = runId,
            Source = body.Source,
            ProcessType = body.ProcessType,
            IdempotencyKey = body.IdempotencyKey,
            InputVersion = body.InputVersion,
            PipelineVersion = body.PipelineVersion,
            RequestedBy = requestedBy,
            Metadata = body.Metadata,
        };
        if (Runs.RequestLimits.Problem(request) is { } problem)
        {
            return TypedResults.Problem(problem, statusCode: 400, title: "Bad request");
        }

        if (body.RunId == Guid.Empty)
        {
            return TypedResults.Problem("runId must not be the empty UUID; leave it out to let RunSaga choose one", statusCode: 400, title: "Bad request");
        }

        if (await FindAsync(db, runId, body.IdempotencyKey, cancellationToken) is { } known)
        {
            return await Answer(db, known, runId, body.Source, createdNow: false, cancellationToken);
        }

        using (logger.BeginScope(new Dictionary<string, object> { ["RunId"] = runId, ["Source"] = body.Source }))
        {
            logger.LogInformation("POST /runs by key {KeyName}: requesting run (idempotency key {IdempotencyKey})",
                http.User.Identity?.Name, body.IdempotencyKey ?? "(none)");
        }

        await publish.Publish(request, cancellationToken);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (await FindAsync(db, runId, body.IdempotencyKey, cancellationToken) is { } run)
            {
                return await Answer(db, run, runId, body.Source, createdNow: true, cancellationToken);
            }

            await Task.Delay(50, cancellationToken);
        }

        return TypedResults.Problem(
            $"The run request {runId} was published but the saga has not recorded it within 30 s; check the Orchestrator's log and runsaga.runs_error.",
            statusCode: 503, title: "Run not recorded yet");
    }

    /// <summary>
    /// Sends <see cref="CancelRun"/> and waits for the saga's answer: 200 with the run once it is Cancelled; 409 when it
    /// already ended, or its promotion committed first (it completes); 404 for an unknown run.
    /// </summary>
    public static async Task<Results<Ok<RunView>, Accepted<RunView>, ProblemHttpResult>> Cancel(
        Guid id, CancelBody? body, RunSagaDbContext db, IPublishEndpoint publish, HttpContext http, CancellationToken cancellationToken)
    {
        var run = await db.Runs.AsNoTracking().FirstOrDefaultAsync(r => r.CorrelationId == id, cancellationToken);
        if (run is null)
        {
            return TypedResults.Problem($"No run {id}.", statusCode: 404, title: "Not found");
        }

        if (RunStatus.IsFinal(run.Status))
        {
            return TypedResults.Problem($"Run {id} already ended {run.Status}; only a run that has not ended can be cancelled.",
                statusCode: 409, title: "Run already ended");
        }

        await publish.Publish(new CancelRun { RunId = id, Reason = body?.Reason, RequestedBy = http.CallerName() }, cancellationToken);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            run = await db.Runs.AsNoTracking().FirstAsync(r => r.CorrelationId == id, cancellationToken);
            if (run.Status == RunStatus.Cancelled)
            {
                return TypedResults.Ok(RunView.From(run, withSteps: true));
            }

            if (RunStatus.IsFinal(run.Status) || await db.RunPromotions.AnyAsync(p => p.RunId == id, cancellationToken))
            {
                return TypedResults.Problem(
                    $"Run {id} was not cancelled: it is {run.Status}{(run.Status == RunStatus.Flushed ? " and its promotion has committed, so it completes" : string.Empty)}.",
                    statusCode: 409, title: "Too late to cancel");
            }

            await Task.Delay(50, cancellationToken);
        }

        // Not answered yet: the saga waits for a promotion of the source in progress. The cancel stands; look again.
        return TypedResults.Accepted($"/runs/{id}", RunView.From(run, withSteps: true));
    }

    /// <summary>
    /// The run this request names once the saga has applied a request to it, or the run holding its idempotency key
    /// (a run that is not Failed or Cancelled: a key whose runs all ended so may be retried).
    /// </summary>
    private static Task<RunState?> FindAsync(RunSagaDbContext db, Guid runId, string? idempotencyKey, CancellationToken cancellationToken) =>
        db.Runs.AsNoTracking()
            .Where(r => (r.CorrelationId == runId && r.RequestedAt != null)
                || (idempotencyKey != null && r.IdempotencyKey == idempotencyKey && r.Status != RunStatus.Failed && r.Status != RunStatus.Cancelled))
            .OrderBy(r => r.CorrelationId == runId ? 0 : 1)
            .FirstOrDefaultAsync(cancellationToken);

    /// <summary>
    /// 201 with the run this request created; 200 with a run that existed before it (the same run id asked again, or the
    /// run that holds its key: this run id, if it was made, ended as a duplicate of it); 409 when the key is held by
    /// another source's run.
    /// </summary>
    private static async Task<Results<Created<RunView>, Ok<RunView>, ProblemHttpResult>> Answer(
        RunSagaDbContext db, RunState run, Guid runId, string source, bool createdNow, CancellationToken cancellationToken)
    {
        if (run.CorrelationId == runId && run.DuplicateOf is { } holderId
            && await db.Runs.AsNoTracking().FirstOrDefaultAsync(r => r.CorrelationId == holderId, cancellationToken) is { } holder)
        {
            run = holder;
        }

        if (run.Source != source || run.ErrorCode == Runs.ErrorCodes.IdempotencyKeyConflict)
        {
            return TypedResults.Problem(
                run.ErrorCode == Runs.ErrorCodes.IdempotencyKeyConflict ? run.ErrorMessage
                    : $"The idempotency key is held by run {run.CorrelationId} of source '{run.Source}'; a key names one source's run.",
                statusCode: 409, title: "Idempotency key held by another source");
        }

        var view = RunView.From(run, withSteps: true);
        return createdNow && run.CorrelationId == runId ? TypedResults.Created($"/runs/{run.CorrelationId}", view) : TypedResults.Ok(view);
    }
}

/// <summary>The body of POST /runs/{id}/cancel.</summary>
public sealed record CancelBody(string? Reason);

/// <summary>The body of POST /runs: a <see cref="RunRequested"/> whose run id RunSaga may choose.</summary>
public sealed record RunRequestBody
{
    public Guid? RunId { get; init; }
    public string Source { get; init; } = null!;
    public string? ProcessType { get; init; }
    public string? IdempotencyKey { get; init; }
    public string? InputVersion { get; init; }
    public string? PipelineVersion { get; init; }
    /// <summary>Accepted and ignored: the run records the name of the API key that asked.</summary>
    public string? RequestedBy { get; init; }
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}
