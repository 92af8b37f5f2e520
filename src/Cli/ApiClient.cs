using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace RunSaga.Cli;

/// <summary>What went wrong, as the exit code a script can test.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>Bad arguments (also System.CommandLine's parse errors).</summary>
    public const int Usage = 2;
    public const int NotFound = 3;
    /// <summary>No key, a wrong key (401) or a role too low (403).</summary>
    public const int Denied = 4;
    /// <summary>The API refused the request (400) or failed (5xx).</summary>
    public const int Failed = 5;
    /// <summary>The Orchestrator could not be reached.</summary>
    public const int Unreachable = 6;
}

/// <summary>An API answer that is not a success, with the exit code it maps to and the problem's detail.</summary>
public sealed class ApiException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>The RunSaga HTTP API (RUNSAGA_URL, RUNSAGA_API_KEY), answers as JSON.</summary>
public sealed class ApiClient(Uri baseAddress, string? apiKey) : IDisposable
{
    private readonly HttpClient http = Create(baseAddress, apiKey);

    public Task<JsonElement> GetAsync(string path, CancellationToken cancellationToken) => SendAsync(HttpMethod.Get, path, null, cancellationToken);

    public Task<JsonElement> PostAsync(string path, object? body, CancellationToken cancellationToken) => SendAsync(HttpMethod.Post, path, body, cancellationToken);

    public Task<JsonElement> DeleteAsync(string path, CancellationToken cancellationToken) => SendAsync(HttpMethod.Delete, path, null, cancellationToken);

    /// <summary>Streams a file answer to <paramref name="target"/>.</summary>
    public async Task DownloadAsync(string path, string target, CancellationToken cancellationToken)
    {
        using var response = await Call(() => http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, cancellationToken));
        await EnsureSuccess(response, cancellationToken);
        await using var output = File.Create(target);
        await response.Content.CopyToAsync(output, cancellationToken);
    }

    public void Dispose() => http.Dispose();

    private async Task<JsonElement> SendAsync(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        using var response = await Call(() => http.SendAsync(request, cancellationToken));
        await EnsureSuccess(response, cancellationToken);
        return await response.Content.ReadFromJsonAsync<JsonElement>(Deep, cancellationToken);
    }

    /// <summary>An item's data may nest 64 levels, deeper than System.Text.Json's default once inside a response.</summary>
    private static readonly JsonSerializerOptions Deep = new(JsonSerializerDefaults.Web) { MaxDepth = 256 };

    private async Task<HttpResponseMessage> Call(Func<Task<HttpResponseMessage>> call)
    {
        try
        {
            return await call();
        }
        catch (HttpRequestException ex)
        {
            throw new ApiException(ExitCodes.Unreachable, $"cannot reach the RunSaga API at {http.BaseAddress} ({ex.Message}); set RUNSAGA_URL or --url");
        }
    }

    private static async Task EnsureSuccess(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var detail = response.ReasonPhrase ?? "";
        try
        {
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
            detail = problem.TryGetProperty("detail", out var d) ? d.GetString() ?? detail : detail;
        }
        catch (JsonException)
        {
        }

        var code = response.StatusCode switch
        {
            HttpStatusCode.NotFound => ExitCodes.NotFound,
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => ExitCodes.Denied,
            _ => ExitCodes.Failed,
        };
        throw new ApiException(code, $"{(int)response.StatusCode} {response.ReasonPhrase}: {detail}");
    }

    private static HttpClient Create(Uri baseAddress, string? apiKey)
    {
        var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(100) };
        if (!string.IsNullOrEmpty(apiKey))
        {
            http.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        }

        return http;
    }
}
