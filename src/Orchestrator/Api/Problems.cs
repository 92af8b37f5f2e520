using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace RunSaga.Orchestrator.Api;

/// <summary>RFC 9457 problem bodies, the one error shape of the API.</summary>
public static class Problems
{
    public static Task Write(HttpContext context, int status, string title, string detail)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(
            new ProblemDetails { Status = status, Title = title, Detail = detail, Instance = context.Request.Path },
            options: null, contentType: "application/problem+json");
    }

    public static IResult NotFound(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");

    public static IResult BadRequest(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Bad request");

    /// <summary>A page's size: <paramref name="limit"/>, or <see cref="RunsApi.DefaultLimit"/> when not given; null when out of 1..<paramref name="max"/>.</summary>
    public static int? Limit(int? limit, int max = RunsApi.MaxLimit) => (limit ?? RunsApi.DefaultLimit) is var take and >= 1 && take <= max ? take : null;

    /// <summary>The 400 for a <see cref="Limit"/> out of range.</summary>
    public static ProblemHttpResult BadLimit(int max = RunsApi.MaxLimit) =>
        TypedResults.Problem($"limit must be from 1 to {max}", statusCode: StatusCodes.Status400BadRequest, title: "Bad request");
}
