using System.Diagnostics;
using System.Net;
using System.Text.Json;
using RunSaga.IntegrationTests.Fixture;

namespace RunSaga.IntegrationTests.Security;

/// <summary>
/// Deny by default, measured from the app's own routing table (<c>RunSaga.Orchestrator routes</c>, not a list kept
/// here): every route answers 401 without a key unless it is one of the explicitly anonymous routes docs/security.md
/// names. The page and the API answer with the security headers; the CLI never prints the key.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_someone_calls_without_a_key(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    /// <summary>The anonymous routes of docs/security.md: probes, the metrics, the API's description.</summary>
    private static readonly string[] Anonymous = ["/health/live", "/health/ready", "/metrics", "/openapi/{documentName}.json"];

    [Fact]
    public async Task Should_answer_401_on_every_route_but_the_explicitly_anonymous_ones()
    {
        var routes = await Routes();
        Assert.True(routes.Count >= 20, $"the routing table lists only {routes.Count} routes: {string.Join(", ", routes.Select(r => r.Pattern))}");
        Assert.Equal(Anonymous.Order(StringComparer.Ordinal), routes.Where(r => r.Access == "anonymous").Select(r => r.Pattern).Order(StringComparer.Ordinal));

        using var http = Stack.Api(role: null);
        foreach (var route in routes)
        {
            foreach (var method in route.Methods.Select(m => m == "*" ? "GET" : m))
            {
                using var request = new HttpRequestMessage(new HttpMethod(method), Concrete(route.Pattern));
                if (method is "POST" or "PUT" or "PATCH")
                {
                    request.Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
                }

                using var response = await http.SendAsync(request);
                var expected = route.Access == "anonymous" ? "not 401" : "401";
                var ok = route.Access == "anonymous" ? response.StatusCode != HttpStatusCode.Unauthorized : response.StatusCode == HttpStatusCode.Unauthorized;
                Assert.True(ok, $"{method} {request.RequestUri} ({route.Access}) without a key: {(int)response.StatusCode}, expected {expected}");
                if (route.Access != "anonymous")
                {
                    Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                }
            }
        }

        // A reader's key is not enough for what needs more.
        using var reader = Stack.Api("reader");
        foreach (var route in routes.Where(r => r.Access is "operator" or "admin"))
        {
            var method = route.Methods.First();
            using var request = new HttpRequestMessage(new HttpMethod(method), Concrete(route.Pattern))
            {
                Content = method == "DELETE" ? null : new StringContent("{}", System.Text.Encoding.UTF8, "application/json"),
            };
            using var response = await reader.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{method} {request.RequestUri} ({route.Access}) with a reader's key: {(int)response.StatusCode}");
        }
    }

    [Fact]
    public async Task Should_send_the_security_headers_with_the_page_and_the_api()
    {
        using var http = Stack.Api("reader");
        foreach (var path in new[] { "", "app.js", "runs?limit=1", "health/ready" })
        {
            using var response = await http.GetAsync(path);
            Assert.True(response.IsSuccessStatusCode, $"GET /{path}: {(int)response.StatusCode}");
            var csp = string.Join(";", response.Headers.TryGetValues("Content-Security-Policy", out var values) ? values : []);
            Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
            Assert.Contains("default-src 'none'", csp, StringComparison.Ordinal);
            Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
            Assert.Equal("nosniff", string.Join(",", response.Headers.GetValues("X-Content-Type-Options")));
            Assert.Equal("DENY", string.Join(",", response.Headers.GetValues("X-Frame-Options")));
        }
    }

    [Fact]
    public async Task Should_never_print_the_api_key_in_the_clis_help()
    {
        var marker = $"secret-key-{Guid.NewGuid():N}";
        foreach (var arguments in new[] { new[] { "--help" }, ["runs", "list", "--help"], ["runs", "--help"] })
        {
            var info = new ProcessStartInfo(RepositoryLayout.Dotnet) { RedirectStandardOutput = true, RedirectStandardError = true };
            info.ArgumentList.Add(Stack.CliAssembly);
            foreach (var argument in arguments)
            {
                info.ArgumentList.Add(argument);
            }

            info.Environment["RUNSAGA_API_KEY"] = marker;
            using var process = Process.Start(info)!;
            var stdout = await process.StandardOutput.ReadToEndAsync();
            var stderr = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.Contains("--api-key", stdout, StringComparison.Ordinal);
            Assert.DoesNotContain(marker, stdout + stderr, StringComparison.Ordinal);
        }
    }

    private async Task<List<Route>> Routes()
    {
        var info = new ProcessStartInfo(RepositoryLayout.Dotnet) { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Stack.OrchestratorAssembly);
        info.ArgumentList.Add("routes");
        foreach (var (name, value) in Stack.OrchestratorEnvironment)
        {
            info.Environment[name] = value;
        }

        info.Environment["LOG_LEVEL"] = "Warning";
        using var process = Process.Start(info)!;
        var stdout = await process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"RunSaga.Orchestrator routes exited with {process.ExitCode}: {stderr}");
        return [.. stdout.Split('\n').Where(l => l.StartsWith('{')).Select(l => JsonSerializer.Deserialize<Route>(l, JsonSerializerOptions.Web)!)];
    }

    private static string Concrete(string pattern) => pattern.TrimStart('/')
        .Replace("{id:guid}", Guid.NewGuid().ToString(), StringComparison.Ordinal)
        .Replace("{source}", "some-source", StringComparison.Ordinal)
        .Replace("{key}", "some-key", StringComparison.Ordinal)
        .Replace("{documentName}", "v1", StringComparison.Ordinal);

    private sealed record Route(string[] Methods, string Pattern, string Access);
}
