using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace RunSaga.Orchestrator.Api;

/// <summary>One API key from configuration (<c>Api:Keys:N:Name|Key|Role</c>, or <c>Api__Keys__0__Key</c> in the environment).</summary>
public sealed class ApiKey
{
    /// <summary>Who holds the key: logged and audited with every call made with it.</summary>
    public string Name { get; set; } = "";
    public string Key { get; set; } = "";
    /// <summary><c>reader</c> (GET), <c>operator</c> (also pin, archive, restore, release, apply), <c>admin</c> (also delete).</summary>
    public string Role { get; set; } = ApiRoles.Reader;
}

public sealed class ApiOptions
{
    public List<ApiKey> Keys { get; set; } = [];

    /// <summary>Origins allowed to call the API from a browser page of their own; none (the default) turns CORS off.</summary>
    public List<string> CorsOrigins { get; set; } = [];
}

/// <summary>The roles, each including the ones before it.</summary>
public static class ApiRoles
{
    public const string Reader = "reader";
    public const string Operator = "operator";
    public const string Admin = "admin";

    public static readonly IReadOnlyList<string> Ordered = [Reader, Operator, Admin];

    /// <summary>The roles a key of <paramref name="role"/> holds: its own and every lesser one.</summary>
    public static IEnumerable<string> Granted(string role) => Ordered.Take(Ordered.ToList().IndexOf(role) + 1);
}

/// <summary>
/// Authenticates a request by its <c>X-Api-Key</c> header (or <c>Authorization: Bearer &lt;key&gt;</c>) against the
/// configured keys, compared in constant time. Without a key or with a wrong one: 401; with a key whose role is too
/// low: 403; both with a problem body.
/// </summary>
public sealed class ApiKeyHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, IOptions<ApiOptions> api)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string Header = "X-Api-Key";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = Request.Headers[Header].FirstOrDefault();
        if (string.IsNullOrEmpty(presented)
            && Request.Headers.Authorization.FirstOrDefault() is { } authorization
            && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            presented = authorization["Bearer ".Length..].Trim();
        }

        if (string.IsNullOrEmpty(presented))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var presentedBytes = Encoding.UTF8.GetBytes(presented);
        var match = api.Value.Keys.FirstOrDefault(k => CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(k.Key), presentedBytes));
        if (match is null)
        {
            return Task.FromResult(AuthenticateResult.Fail("unknown API key"));
        }

        var claims = new List<Claim> { new(ClaimTypes.Name, match.Name) };
        claims.AddRange(ApiRoles.Granted(match.Role).Select(role => new Claim(ClaimTypes.Role, role)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) =>
        Problems.Write(Context, StatusCodes.Status401Unauthorized, "API key required",
            $"Send a valid API key in the {Header} header (or as 'Authorization: Bearer <key>'). Keys are configured as Api:Keys.");

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.Write(Context, StatusCodes.Status403Forbidden, "Role too low",
            $"The key '{Context.User.Identity?.Name}' may not do this: it needs the '{RequiredRole(Context)}' role.");

    private static string RequiredRole(HttpContext context) =>
        context.GetEndpoint()?.Metadata.GetMetadata<Microsoft.AspNetCore.Authorization.IAuthorizeData>()?.Policy ?? "?";
}

public static class ApiAccess
{
    private static readonly string[] SchemeNames = [ApiKeyHandler.SchemeName];

    /// <summary>Who asked, as operations and the audit record it: <c>api:</c> and the calling key's name.</summary>
    public static string CallerName(this HttpContext http) => $"api:{http.User.Identity?.Name}";

    /// <summary>API keys (validated at start), the three role policies, and CORS when origins are configured.</summary>
    public static IServiceCollection AddRunSagaApiAccess(this IServiceCollection services)
    {
        services.AddOptions<ApiOptions>()
            .BindConfiguration("Api")
            .Validate(o => o.Keys.All(k => ApiRoles.Ordered.Contains(k.Role)), "Api:Keys: every key needs a Role of reader, operator or admin")
            .Validate(o => o.Keys.All(k => k.Key.Length >= 16), "Api:Keys: every Key must be at least 16 characters long")
            .Validate(o => o.Keys.All(k => k.Name.Length > 0), "Api:Keys: every key needs a Name (it is logged and audited with each call)")
            .Validate(o => o.Keys.Select(k => k.Key).Distinct().Count() == o.Keys.Count, "Api:Keys: two keys have the same Key")
            .ValidateOnStart();
        services.AddAuthentication(ApiKeyHandler.SchemeName).AddScheme<AuthenticationSchemeOptions, ApiKeyHandler>(ApiKeyHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            // Deny by default: an endpoint that names no policy still needs a reader's key, unless it is explicitly
            // anonymous (AllowAnonymous: the health checks, /metrics and the OpenAPI document; see docs/security.md).
            .SetFallbackPolicy(new Microsoft.AspNetCore.Authorization.AuthorizationPolicyBuilder(SchemeNames).RequireRole(ApiRoles.Reader).Build())
            .AddPolicy(ApiRoles.Reader, policy => policy.RequireRole(ApiRoles.Reader))
            .AddPolicy(ApiRoles.Operator, policy => policy.RequireRole(ApiRoles.Operator))
            .AddPolicy(ApiRoles.Admin, policy => policy.RequireRole(ApiRoles.Admin));
        services.AddCors();
        services.AddOptions<Microsoft.AspNetCore.Cors.Infrastructure.CorsOptions>()
            .Configure<IOptions<ApiOptions>>((cors, api) =>
                cors.AddDefaultPolicy(policy => policy.WithOrigins([.. api.Value.CorsOrigins]).AllowAnyHeader().AllowAnyMethod()));
        return services;
    }
}
