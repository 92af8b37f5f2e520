using Microsoft.AspNetCore.Http.HttpResults;
using RunSaga.Orchestrator.Broker;

namespace RunSaga.Orchestrator.Api;

/// <summary>Which messages to replay: exactly one of a message id, a run id, or <c>all</c>.</summary>
public sealed record ReplayBody(string? MessageId, Guid? RunId, bool? All);

/// <summary>The message to discard and why (the reason goes into <c>runsaga.dead_letter_actions</c> with the body).</summary>
public sealed record DiscardBody(string? MessageId, string? Reason);

/// <summary>
/// The dead letters of RunSaga's queues (see <see cref="DeadLetters"/>): readers see which <c>_error</c> and
/// <c>_skipped</c> queues hold messages, and what those are and why they failed, without taking them; operators replay
/// them to the queue they failed on (safe: every consumer is idempotent, so a message whose work was done meanwhile
/// changes nothing); admins discard one, audited with its body.
/// </summary>
public static class ErrorsApi
{
    public static void MapErrorsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/errors", Queues).WithTags("Dead letters").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("RunSaga's _error and _skipped queues that exist, with how many messages each holds");
        app.MapGet("/errors/{queue}", Messages).WithTags("Dead letters").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("The messages at the head of one dead-letter queue (type, run, fault reason, when), left in the queue");
        app.MapPost("/errors/{queue}/replay", Replay).WithTags("Dead letters").RequireAuthorization(ApiRoles.Operator).AddEndpointFilter<AuditFilter>()
            .WithSummary("Put one message (messageId), every message of a run (runId) or all back on the queue they failed on, audited");
        app.MapPost("/errors/{queue}/discard", Discard).WithTags("Dead letters").RequireAuthorization(ApiRoles.Admin).AddEndpointFilter<AuditFilter>()
            .WithSummary("Remove one message for good; its body and the reason are kept in runsaga.dead_letter_actions");
    }

    /// <summary>GET /errors</summary>
    public static async Task<Ok<IReadOnlyList<DeadLetterQueue>>> Queues(DeadLetters deadLetters, CancellationToken cancellationToken) =>
        TypedResults.Ok(await deadLetters.CountAsync(cancellationToken));

    /// <summary>GET /errors/{queue}?limit= (the first <c>limit</c> messages, 50 by default).</summary>
    public static async Task<IResult> Messages(DeadLetters deadLetters, string queue, int? limit, CancellationToken cancellationToken)
    {
        if (Problems.Limit(limit, DeadLetters.MaxMessages) is not { } take)
        {
            return Problems.BadLimit(DeadLetters.MaxMessages);
        }

        if (UnknownQueue(queue) is { } unknown)
        {
            return unknown;
        }

        return await Guarded(async () => await deadLetters.PeekAsync(queue, take, cancellationToken) is { } messages
            ? TypedResults.Ok(messages)
            : Missing(queue));
    }

    /// <summary>POST /errors/{queue}/replay with exactly one of <c>messageId</c>, <c>runId</c>, <c>all: true</c>.</summary>
    public static async Task<IResult> Replay(DeadLetters deadLetters, string queue, ReplayBody body, HttpContext http, CancellationToken cancellationToken)
    {
        if (UnknownQueue(queue) is { } unknown)
        {
            return unknown;
        }

        var chosen = (string.IsNullOrWhiteSpace(body.MessageId) ? 0 : 1) + (body.RunId is null ? 0 : 1) + (body.All == true ? 1 : 0);
        if (chosen != 1)
        {
            return Problems.BadRequest("say which messages to replay with exactly one of messageId, runId, or all: true");
        }

        var selection = new DeadLetterSelection(body.MessageId?.Trim(), body.RunId, body.All == true);
        return await Guarded(async () => await deadLetters.ReplayAsync(queue, selection, http.CallerName(), cancellationToken) switch
        {
            null => Missing(queue),
            { Count: 0 } when !selection.All => Problems.NotFound(
                selection.MessageId is { } id ? $"No message {id} in {queue}." : $"No message of run {selection.RunId} in {queue}."),
            { } moved => TypedResults.Ok(moved),
        });
    }

    /// <summary>POST /errors/{queue}/discard with <c>messageId</c> and <c>reason</c>.</summary>
    public static async Task<IResult> Discard(DeadLetters deadLetters, string queue, DiscardBody body, HttpContext http, CancellationToken cancellationToken)
    {
        if (UnknownQueue(queue) is { } unknown)
        {
            return unknown;
        }

        if (string.IsNullOrWhiteSpace(body.MessageId) || string.IsNullOrWhiteSpace(body.Reason))
        {
            return Problems.BadRequest("messageId and reason are required: the reason is kept with the discarded message in runsaga.dead_letter_actions");
        }

        return await Guarded(async () => await deadLetters.DiscardAsync(queue, body.MessageId.Trim(), body.Reason, http.CallerName(), cancellationToken) switch
        {
            null => Missing(queue),
            { Count: 0 } => Problems.NotFound($"No message {body.MessageId} in {queue}."),
            { } discarded => TypedResults.Ok(discarded),
        });
    }

    private static IResult? UnknownQueue(string queue) => DeadLetters.Queues.Contains(queue)
        ? null
        : Problems.NotFound($"{queue} is not one of RunSaga's dead-letter queues ({string.Join(", ", DeadLetters.Queues)})");

    private static IResult Missing(string queue) => Problems.NotFound($"{queue} does not exist on the broker yet: nothing has been dead-lettered there");

    /// <summary>Another Orchestrator holding the queue, or a source queue that is gone, is a 409 that says what to do.</summary>
    private static async Task<IResult> Guarded(Func<Task<IResult>> act)
    {
        try
        {
            return await act();
        }
        catch (Exception ex) when (ex is DeadLetterQueueBusyException or DeadLetterTargetMissingException)
        {
            return TypedResults.Problem(ex.Message, statusCode: StatusCodes.Status409Conflict, title: "Conflict");
        }
    }
}
