using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace RunSaga.IntegrationTests.Broker;

/// <summary>One message as the management API shows it (read with requeue, so it stays in its queue).</summary>
public sealed record QueuedMessage(string Payload, string? ContentType, IReadOnlyDictionary<string, string> Headers)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    public override string ToString() =>
        $"content_type={ContentType} headers={{{string.Join(", ", Headers.Select(h => $"{h.Key}={h.Value}"))}}} payload={Payload}";
}

/// <summary>
/// The RabbitMQ management HTTP API: virtual hosts, permissions, and a look into queues. Given the API of every node of
/// a cluster, it asks the one that answered last and moves on to the next when a node is down.
/// </summary>
public sealed class RabbitManagement : IDisposable
{
    private readonly HttpClient http;
    private readonly IReadOnlyList<Uri> nodes;
    private int current;

    public RabbitManagement(Uri baseAddress, string user, string password)
        : this([baseAddress], user, password)
    {
    }

    public RabbitManagement(IReadOnlyList<Uri> baseAddresses, string user, string password)
    {
        nodes = baseAddresses.Count > 0 ? baseAddresses : throw new ArgumentException("No management API address.", nameof(baseAddresses));
        http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
    }

    /// <summary>The management API that answered last.</summary>
    public Uri BaseAddress => nodes[Volatile.Read(ref current) % nodes.Count];

    public async Task CreateVirtualHost(string virtualHost)
    {
        using var response = await Send(HttpMethod.Put, $"api/vhosts/{Escape(virtualHost)}", new { });
        await EnsureSuccess(response, $"create virtual host {virtualHost}");
    }

    public async Task GrantAll(string virtualHost, string user)
    {
        using var response = await Send(HttpMethod.Put, $"api/permissions/{Escape(virtualHost)}/{Escape(user)}",
            new { configure = ".*", write = ".*", read = ".*" });
        await EnsureSuccess(response, $"grant {user} on {virtualHost}");
    }

    /// <summary>Creates (or updates) a user with <paramref name="tags"/> (comma-separated, or empty).</summary>
    public async Task CreateUser(string user, string password, string tags)
    {
        using var response = await Send(HttpMethod.Put, $"api/users/{Escape(user)}", new { password, tags });
        await EnsureSuccess(response, $"create user {user}");
    }

    public async Task SetPermissions(string virtualHost, string user, string configure, string write, string read)
    {
        using var response = await Send(HttpMethod.Put, $"api/permissions/{Escape(virtualHost)}/{Escape(user)}",
            new { configure, write, read });
        await EnsureSuccess(response, $"set the permissions of {user} on {virtualHost}");
    }

    public async Task DeleteUser(string user)
    {
        using var response = await Send(HttpMethod.Delete, $"api/users/{Escape(user)}", null);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccess(response, $"delete user {user}");
        }
    }

    /// <summary>An HTTP GET of the management API as <paramref name="user"/>, for permission tests: the status code.</summary>
    public async Task<HttpStatusCode> StatusAs(string user, string password, string path)
    {
        using var other = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        other.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        using var response = await other.GetAsync(new Uri(path, UriKind.Relative));
        return response.StatusCode;
    }

    public async Task DeleteVirtualHost(string virtualHost)
    {
        using var response = await Send(HttpMethod.Delete, $"api/vhosts/{Escape(virtualHost)}", null);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccess(response, $"delete virtual host {virtualHost}");
        }
    }

    /// <summary>
    /// Up to <paramref name="count"/> messages of <paramref name="queue"/>, requeued after reading (they stay
    /// there); empty when the queue does not exist (MassTransit declares an <c>_error</c> queue at its first fault).
    /// </summary>
    public async Task<IReadOnlyList<QueuedMessage>> PeekMessages(string virtualHost, string queue, int count = 100)
    {
        using var response = await Send(HttpMethod.Post, $"api/queues/{Escape(virtualHost)}/{Escape(queue)}/get",
            new { count, ackmode = "ack_requeue_true", encoding = "auto", truncate = 1_000_000 });
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return [];
        }

        await EnsureSuccess(response, $"read queue {queue}");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return [.. document.RootElement.EnumerateArray().Select(Parse)];
    }

    /// <summary>The queue's figures (messages, messages_unacknowledged, message_stats, …), or null if it does not exist.</summary>
    public async Task<JsonElement?> Queue(string virtualHost, string queue)
    {
        using var response = await Send(HttpMethod.Get, $"api/queues/{Escape(virtualHost)}/{Escape(queue)}", null);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccess(response, $"read queue {queue}");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    /// <summary>Every queue of the virtual host with its ready and unacknowledged message counts and its consumers.</summary>
    public async Task<IReadOnlyList<(string Name, long Ready, long Unacked, long Consumers)>> Queues(string virtualHost)
    {
        using var response = await Send(HttpMethod.Get, $"api/queues/{Escape(virtualHost)}", null);
        await EnsureSuccess(response, $"list queues of {virtualHost}");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        static long Count(JsonElement queue, string field) => queue.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetInt64() : 0;
        return [.. document.RootElement.EnumerateArray().Select(q =>
            (q.GetProperty("name").GetString()!, Count(q, "messages_ready"), Count(q, "messages_unacknowledged"), Count(q, "consumers")))];
    }

    /// <summary>
    /// The quorum queues of the virtual host with their messages (ready and unacknowledged) and the node that leads
    /// each, busiest first.
    /// </summary>
    public async Task<IReadOnlyList<(string Name, long Messages, string Leader)>> QueueLeaders(string virtualHost)
    {
        using var response = await Send(HttpMethod.Get, $"api/queues/{Escape(virtualHost)}", null);
        await EnsureSuccess(response, $"list queues of {virtualHost}");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return [.. document.RootElement.EnumerateArray()
            .Where(q => q.TryGetProperty("leader", out var leader) && leader.ValueKind == JsonValueKind.String)
            .Select(q => (q.GetProperty("name").GetString()!,
                q.TryGetProperty("messages", out var m) && m.ValueKind == JsonValueKind.Number ? m.GetInt64() : 0,
                q.GetProperty("leader").GetString()!))
            .OrderByDescending(q => q.Item2)];
    }

    /// <summary>The cluster's nodes as the management API sees them: name and whether it runs.</summary>
    public async Task<IReadOnlyList<(string Name, bool Running)>> Nodes()
    {
        using var response = await Send(HttpMethod.Get, "api/nodes", null);
        await EnsureSuccess(response, "list the nodes");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return [.. document.RootElement.EnumerateArray().Select(n =>
            (n.GetProperty("name").GetString()!, n.TryGetProperty("running", out var running) && running.ValueKind == JsonValueKind.True))];
    }

    public async Task DeleteQueue(string virtualHost, string queue)
    {
        using var response = await Send(HttpMethod.Delete, $"api/queues/{Escape(virtualHost)}/{Escape(queue)}", null);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccess(response, $"delete queue {queue}");
        }
    }

    /// <summary>
    /// Closes every AMQP connection to the virtual host except the ones named <paramref name="keep"/> (as a network
    /// failure would, from the client's side); returns how many it closed.
    /// </summary>
    public async Task<int> CloseConnections(string virtualHost, string keep)
    {
        using var response = await Send(HttpMethod.Get, $"api/vhosts/{Escape(virtualHost)}/connections", null);
        await EnsureSuccess(response, $"list connections of {virtualHost}");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var closed = 0;
        foreach (var connection in document.RootElement.EnumerateArray())
        {
            var provided = connection.TryGetProperty("user_provided_name", out var name) ? name.GetString() : null;
            if (provided == keep)
            {
                continue;
            }

            using var close = await Send(HttpMethod.Delete, $"api/connections/{Escape(connection.GetProperty("name").GetString()!)}", null);
            closed += close.IsSuccessStatusCode ? 1 : 0;
        }

        return closed;
    }

    public void Dispose() => http.Dispose();

    private static QueuedMessage Parse(JsonElement message)
    {
        var payload = message.GetProperty("payload").GetString() ?? string.Empty;
        if (message.GetProperty("payload_encoding").GetString() == "base64")
        {
            payload = Encoding.UTF8.GetString(Convert.FromBase64String(payload));
        }

        var properties = message.GetProperty("properties");
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        if (properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty("headers", out var headerObject))
        {
            foreach (var header in headerObject.EnumerateObject())
            {
                headers[header.Name] = header.Value.ValueKind == JsonValueKind.String ? header.Value.GetString()! : header.Value.GetRawText();
            }
        }

        var contentType = properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty("content_type", out var type)
            ? type.GetString()
            : null;
        return new QueuedMessage(payload, contentType, headers);
    }

    /// <summary>The request to the node that answered last; on a connection failure, to the next node, each once.</summary>
    private async Task<HttpResponseMessage> Send(HttpMethod method, string path, object? body)
    {
        HttpRequestException? last = null;
        var start = Volatile.Read(ref current);
        for (var attempt = 0; attempt < nodes.Count; attempt++)
        {
            var node = (start + attempt) % nodes.Count;
            using var request = new HttpRequestMessage(method, new Uri(nodes[node], path));
            if (body is not null)
            {
                request.Content = JsonContent.Create(body);
            }

            try
            {
                var response = await http.SendAsync(request);
                Volatile.Write(ref current, node);
                return response;
            }
            catch (HttpRequestException ex)
            {
                last = ex;
            }
            catch (TaskCanceledException ex)
            {
                // A node that hangs (paused, or cut off) times out: the next one may answer.
                last = new HttpRequestException($"{nodes[node]} did not answer within {http.Timeout}", ex);
            }
        }

        throw new InvalidOperationException(
            $"The RabbitMQ management API at {string.Join(", ", nodes)} does not answer ({last?.Message}). Enable it with "
            + "`rabbitmq-plugins enable rabbitmq_management`, or point RABBITMQ_MANAGEMENT_URL at it.", last);
    }

    private static async Task EnsureSuccess(HttpResponseMessage response, string what)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException(
                $"RabbitMQ management API: could not {what}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    private static string Escape(string segment) => Uri.EscapeDataString(segment);
}
