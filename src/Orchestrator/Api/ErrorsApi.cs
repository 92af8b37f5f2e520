using Microsoft.AspNetCore.Http.HttpResults;
using RunSaga.Orchestrator.Broker;

namespace RunSaga.Orchestrator.Api;

/// <summary>
/// The dead letters of RunSaga's queues, for readers: which <c>_error</c> and <c>_skipped</c> queues hold messages, and
/// what those messages are and why they failed (see <see cref="DeadLetters"/>). Reading leaves every message in its queue.
/// </summary>
public static class ErrorsApi
{
    public static void MapErrorsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/errors", Queues).WithTags("Dead letters").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("RunSaga's _error and _skipped queues that exist, with how many messages each holds");
        app.MapGet("/errors/{queue}", Messages).WithTags("Dead letters").RequireAuthorization(ApiRoles.Reader)
            .WithSummary("The messages at the head of one dead-letter queue (type, run, fault reason, when), left in the queue");
    }

    /// <summary>GET /errors</summary>
    public static async Task<Ok<IReadOnlyList<DeadLetterQueue>>> Queues(DeadLetters deadLetters, CancellationToken cancellationToken) =>
        TypedResults.Ok(await deadLetters.CountAsync(cancellationToken));

    /// <summary>GET /errors/{queue}?limit= (the first <c>limit</c> messages, 50 by default).</summary>
    public static async Task<IResult> Messages(DeadLetters deadLetters, string queue, int? limit, CancellationToken cancellationToken)
    {
        var take = limit ?? 50;
        if (take is < 1 or > DeadLetters.MaxMessages)
        {
            return TypedResults.Problem($"limit must be from 1 to {DeadLetters.MaxMessages}", statusCode: 400, title: "Bad request");
        }

        if (!DeadLetters.Queues.Contains(queue))
        {
            return Problems.NotFound($"{queue} is not one of RunSaga's dead-letter queues ({string.Join(", ", DeadLetters.Queues)})");
        }

        return await deadLetters.PeekAsync(queue, take, cancellationToken) is { } messages
            ? TypedResults.Ok(messages)
            : Problems.NotFound($"{queue} does not exist on the broker yet: nothing has been dead-lettered there");
    }
}
