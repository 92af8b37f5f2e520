using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;

namespace RunSaga.Orchestrator.Api;

/// <summary>
/// The API's rate limits (requests per minute, per Orchestrator instance): per API key and per client address, both
/// applied. 0 turns a limit off. A request over a limit answers 429 with Retry-After and a problem body. The address is
/// the connection's: behind a proxy every client shares the proxy's, so there the per-key limit is the one that counts
/// (set API_RATE_LIMIT_PER_ADDRESS to 0, or to what the proxy may send).
/// </summary>
public sealed class RateLimitOptions
{
    [Microsoft.Extensions.Configuration.ConfigurationKeyName("API_RATE_LIMIT_PER_KEY")]
    public int PerKey { get; set; } = 1200;

    [Microsoft.Extensions.Configuration.ConfigurationKeyName("API_RATE_LIMIT_PER_ADDRESS")]
    public int PerAddress { get; set; } = 3000;
}

public static class ApiProtection
{
    /// <summary>What the page needs and no more: its own scripts and styles, the API of its own origin, no framing.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    public static IServiceCollection AddRunSagaApiProtection(this IServiceCollection services)
    {
        services.AddOptions<RateLimitOptions>().BindConfiguration(string.Empty)
            .Validate(o => o.PerKey >= 0 && o.PerAddress >= 0, "API_RATE_LIMIT_PER_KEY and API_RATE_LIMIT_PER_ADDRESS are requests per minute, 0 or more")
            .ValidateOnStart();
        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = async (context, cancellationToken) =>
            {
                if (context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
                {
                    context.HttpContext.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                }

                await Problems.Write(context.HttpContext, StatusCodes.Status429TooManyRequests, "Too many requests",
                    "This API key or address made more requests than API_RATE_LIMIT_PER_KEY / API_RATE_LIMIT_PER_ADDRESS allow "
                    + "per minute; wait for Retry-After seconds.");
            };
        });
        services.AddOptions<RateLimiterOptions>().Configure<Microsoft.Extensions.Options.IOptions<RateLimitOptions>>((limiter, limits) =>
        {
            var perKey = limits.Value.PerKey;
            var perAddress = limits.Value.PerAddress;
            limiter.GlobalLimiter = PartitionedRateLimiter.CreateChained(
                PartitionedRateLimiter.Create<HttpContext, string>(http =>
                    http.User.Identity is { IsAuthenticated: true, Name: { } key } && perKey > 0
                        ? RateLimitPartition.GetFixedWindowLimiter("key:" + key, _ => Window(perKey))
                        : RateLimitPartition.GetNoLimiter("no-key")),
                PartitionedRateLimiter.Create<HttpContext, string>(http =>
                    perAddress > 0
                        ? RateLimitPartition.GetFixedWindowLimiter("address:" + (http.Connection.RemoteIpAddress?.ToString() ?? "-"), _ => Window(perAddress))
                        : RateLimitPartition.GetNoLimiter("no-address")));
        });
        return services;
    }

    /// <summary>
    /// Security headers on every answer: the page's CSP, no framing, no MIME sniffing, no referrer. Set as the answer
    /// starts, so that an error page (which clears the headers set before it) carries them too.
    /// </summary>
    public static IApplicationBuilder UseRunSagaSecurityHeaders(this IApplicationBuilder app) =>
        app.Use((http, next) =>
        {
            http.Response.OnStarting(() =>
            {
                var headers = http.Response.Headers;
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XFrameOptions = "DENY";
                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                headers["Cross-Origin-Opener-Policy"] = "same-origin";
                return Task.CompletedTask;
            });
            return next(http);
        });

    private static FixedWindowRateLimiterOptions Window(int perMinute) => new()
    {
        PermitLimit = perMinute,
        Window = TimeSpan.FromMinutes(1),
        QueueLimit = 0,
        AutoReplenishment = true,
    };
}
