using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Api;

/// <summary>
/// With OPENLINEAGE_URL pointing at a receiver in this test (which refuses its first request, to prove the retry),
/// every run is reported as OpenLineage RunEvents: START, then COMPLETE with its counts, or FAIL; runs are not held
/// up by the receiver.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_openlineage_is_configured(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_report_start_complete_and_fail_for_each_run_and_retry_a_failed_delivery()
    {
        using var receiver = new LineageReceiver(failFirst: 1);
        await Stack.RestartOrchestrator(new Dictionary<string, string> { ["OPENLINEAGE_URL"] = receiver.Url });
        try
        {
            var source = NewSource("lineage");
            var completed = await Seed(source, Items.Numbered(4));
            var failed = new ScrapeRun(source);
            await Publisher.Publish([failed.Requested(), failed.Started(), failed.Failed("UPSTREAM_UNAVAILABLE", "503")]);
            await ExpectFailed(failed.RunId, "UPSTREAM_UNAVAILABLE");

            await Eventually(() => Task.FromResult(receiver.EventsFor(completed.Id).Count >= 2 && receiver.EventsFor(failed.RunId).Count >= 2),
                "START and COMPLETE/FAIL for both runs at the receiver", TimeSpan.FromSeconds(60));

            var done = receiver.EventsFor(completed.Id);
            Assert.Equal(["COMPLETE", "START"], done.Select(e => e.GetProperty("eventType").GetString()).Distinct().Order(StringComparer.Ordinal));
            var complete = done.Last(e => e.GetProperty("eventType").GetString() == "COMPLETE");
            Assert.Equal(source, complete.GetProperty("job").GetProperty("name").GetString());
            Assert.Equal("runsaga", complete.GetProperty("job").GetProperty("namespace").GetString());
            var dataset = complete.GetProperty("outputs")[0];
            Assert.Equal($"{source}.projects", dataset.GetProperty("name").GetString());
            Assert.Equal(4, dataset.GetProperty("outputFacets").GetProperty("outputStatistics").GetProperty("rowCount").GetInt32());
            Assert.Contains(receiver.EventsFor(failed.RunId), e => e.GetProperty("eventType").GetString() == "FAIL"
                && e.GetProperty("run").GetProperty("facets").GetProperty("errorMessage").GetProperty("message").GetString()!.Contains("UPSTREAM_UNAVAILABLE"));
            Assert.True(receiver.Refused >= 1, "the receiver's refusal should have been retried");
        }
        finally
        {
            // Without OPENLINEAGE_URL nothing consumes the queue any more; it would keep collecting events.
            await Stack.RestartOrchestrator();
            await Stack.Management.DeleteQueue(Stack.VirtualHost, "runsaga.openlineage");
        }
    }

    /// <summary>A minimal OpenLineage HTTP receiver: POST /api/v1/lineage, keeps every event; refuses the first N with 503.</summary>
    private sealed class LineageReceiver : IDisposable
    {
        private readonly HttpListener listener = new();
        private readonly ConcurrentQueue<JsonElement> events = new();
        private int refuse;

        public LineageReceiver(int failFirst)
        {
            refuse = failFirst;
            var port = FreePort();
            Url = $"http://127.0.0.1:{port}/";
            listener.Prefixes.Add(Url);
            listener.Start();
            _ = Task.Run(Serve);
        }

        public string Url { get; }

        public int Refused { get; private set; }

        public IReadOnlyList<JsonElement> EventsFor(Guid runId) =>
            [.. events.Where(e => e.GetProperty("run").GetProperty("runId").GetGuid() == runId)];

        public void Dispose() => listener.Close();

        private async Task Serve()
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                using var reader = new StreamReader(context.Request.InputStream);
                var body = await reader.ReadToEndAsync();
                if (context.Request.Url?.AbsolutePath != "/api/v1/lineage" || context.Request.HttpMethod != "POST")
                {
                    context.Response.StatusCode = 404;
                }
                else if (Interlocked.Decrement(ref refuse) >= 0)
                {
                    Refused++;
                    context.Response.StatusCode = 503;
                }
                else
                {
                    events.Enqueue(JsonDocument.Parse(body).RootElement.Clone());
                    context.Response.StatusCode = 201;
                }

                context.Response.Close();
            }
        }

        private static int FreePort()
        {
            using var socket = new TcpListener(IPAddress.Loopback, 0);
            socket.Start();
            return ((IPEndPoint)socket.LocalEndpoint).Port;
        }
    }
}
