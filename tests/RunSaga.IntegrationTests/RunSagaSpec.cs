using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Data;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests;

/// <summary>
/// Base of every integration spec: the shared stack, a source name of the spec's own, and the hosts' log lines
/// written during the spec in its output (shown when it fails).
/// </summary>
public abstract class RunSagaSpec(RunSagaStack stack, ITestOutputHelper output) : IAsyncLifetime
{
    private long logMark;

    protected RunSagaStack Stack => stack;

    protected RunSagaDb Db => stack.Db;

    protected ScraperPublisher Publisher => stack.Publisher;

    protected ITestOutputHelper Output => output;

    public Task InitializeAsync()
    {
        logMark = stack.Logs.Mark();
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        output.WriteLine("--- host log lines written during this test (last 400) ---");
        foreach (var line in stack.Logs.Since(logMark, 400))
        {
            output.WriteLine(line);
        }

        return Task.CompletedTask;
    }

    /// <summary>A source nobody else uses: <c>it-&lt;name&gt;-&lt;random&gt;</c>.</summary>
    protected static string NewSource(string name) => $"it-{name}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>
    /// Publishes one command or event by its message name (e.g. <c>ArchiveRun</c>) as the Orchestrator's broker user, as an
    /// operator's tool with the Orchestrator's credentials would (a scraper cannot).
    /// </summary>
    protected Task Send(string messageType, object message, DateTime? sentTime = null) =>
        stack.HostPublisher.Publish([new Broker.OutgoingMessage(messageType, message, SentTime: sentTime)]);

    /// <summary>Publishes a whole run (requested, started, batches, completed) and waits until it is Completed.</summary>
    protected async Task<RunRow> CompleteRun(ScrapeRun run, IReadOnlyCollection<Batch> batches)
    {
        await Publisher.Publish(run.Whole(batches));
        return await ExpectCompleted(run.RunId);
    }

    protected async Task<RunRow> ExpectCompleted(Guid runId, TimeSpan? timeout = null)
    {
        var row = await Db.WaitForFinalStatus(runId, timeout);
        Assert.True(row.Status == "Completed", $"Run {runId} should be Completed: {row}{Environment.NewLine}{stack.Logs.Tail(40, runId.ToString())}");
        return row;
    }

    protected async Task<RunRow> ExpectFailed(Guid runId, string errorCode, TimeSpan? timeout = null)
    {
        var row = await Db.WaitForFinalStatus(runId, timeout);
        Assert.True(row.Status == "Failed" && row.ErrorCode == errorCode,
            $"Run {runId} should be Failed with {errorCode}: {row}{Environment.NewLine}{stack.Logs.Tail(40, runId.ToString())}");
        return row;
    }

    /// <summary>Seeds <paramref name="source"/> with a completed run of <paramref name="items"/> (in batches of 20).</summary>
    protected async Task<RunRow> Seed(string source, IReadOnlyList<Item> items) =>
        await CompleteRun(new ScrapeRun(source), items.InBatches(20, "seed"));

    /// <summary>
    /// Seeds <paramref name="source"/> with items 1–40 and returns the checksum of the whole <c>projects</c> table,
    /// with items that would change it if promoted: 1–30 with new content and the new items 41–70.
    /// </summary>
    protected async Task<(string Checksum, List<Item> Harmful)> SeedBeforeAFailure(string source)
    {
        await Seed(source, Items.Numbered(40));
        return (await Db.ProjectsChecksum(), [.. Items.Numbered(30, revision: 2), .. Items.Numbered(30, first: 41)]);
    }

    /// <summary>The failed run left <c>projects</c> byte for byte as it was, and wrote no lineage and no promotion.</summary>
    protected async Task AssertProjectsUntouchedBy(Guid runId, string checksumBefore)
    {
        Assert.Equal(checksumBefore, await Db.ProjectsChecksum());
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.project_lineage WHERE run_id = @p0", runId));
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.run_promotions WHERE run_id = @p0", runId));
    }

    /// <summary>A run's staging rows as text (one JSON object per row, by key), to compare before and after an archive round trip.</summary>
    protected async Task<string> Staging(Guid runId) =>
        (await Db.Query(
            """SELECT coalesce(string_agg(row_to_json(s)::text, E'\n' ORDER BY s.key COLLATE "C"), '') FROM runsaga.staged_items s WHERE s.run_id = @p0""",
            r => r.GetString(0), runId)).Single();

    /// <summary>
    /// A run whose history has something in it, published raw: one batch sent twice (a redelivery), the Consumers down
    /// when the scrape completes (the saga holds its flush verdict: runsaga.staging has no consumer), back, the run
    /// completed, and then a batch that comes after it (late, refused). Returns once the late batch is in the history.
    /// </summary>
    protected async Task<ScrapeRun> RunWithAHistory(string source)
    {
        var run = new ScrapeRun(source);
        var b1 = new Batch("b1", Items.Numbered(10));
        var b2 = new Batch("b2", Items.Numbered(10, first: 11));
        var b3 = new Batch("b3", Items.Numbered(10, first: 21));
        await Publisher.Publish([run.Requested(), run.Started(), run.Scraped(b1), run.Scraped(b2)]);
        await Eventually(async () => await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", run.RunId) == 2, "b1 and b2 staged");
        await Eventually(async () => await Db.Count(
            "SELECT count(DISTINCT event) FROM runsaga.run_events WHERE run_id = @p0 AND event IN ('RunRequested', 'RunStarted')", run.RunId) == 2,
            "the saga handled RunRequested and RunStarted");
        await Publisher.Publish([run.Scraped(b1)]);
        await Eventually(() => HistoryHas(run.RunId, "staging", "ItemsScraped", "duplicate"), "b1's second delivery in the history");

        Stack.KillConsumers();
        try
        {
            await Publisher.Publish([run.Scraped(b3), run.Completed([b1, b2, b3])]);
            await Eventually(async () => await Db.Count(
                "SELECT count(*) FROM runsaga.run_events WHERE run_id = @p0 AND event = 'RunDeadlinePassed' AND summary LIKE '%flush verdict held%'", run.RunId) > 0,
                "the saga holds the flush verdict while the Consumers are down", timeout: TimeSpan.FromSeconds(60));
        }
        finally
        {
            if (!Stack.ConsumersAreRunning)
            {
                await Stack.StartConsumers();
            }
        }

        await ExpectCompleted(run.RunId);
        await Publisher.Publish([run.Scraped(new Batch("b4", Items.Numbered(5, first: 31)))]);
        await Eventually(() => HistoryHas(run.RunId, "staging", "ItemsScraped", "late"), "the late batch b4 in the history");
        return run;
    }

    private async Task<bool> HistoryHas(Guid runId, string actor, string @event, string outcome) =>
        await Db.Count("SELECT count(*) FROM runsaga.run_events WHERE run_id = @p0 AND actor = @p1 AND event = @p2 AND outcome = @p3",
            runId, actor, @event, outcome) > 0;

    /// <summary>Where the saga's messages go when they fail.</summary>
    protected const string RunsErrorQueue = "runsaga.runs_error";

    /// <summary>
    /// A run whose 30 items are staged and whose ScrapeCompleted failed in the saga while the hosts' role could not write
    /// <c>runsaga.runs</c> (its grant is back when this returns); the message waits in <see cref="RunsErrorQueue"/>.
    /// </summary>
    protected async Task<(ScrapeRun Run, List<Batch> Batches)> RunWhoseCompletionFailed(string name)
    {
        var run = new ScrapeRun(NewSource(name));
        var batches = Items.Numbered(30).InBatches(10);
        await Publisher.Publish([run.Requested(), run.Started(), .. batches.Select(run.Scraped)]);
        await Db.WaitForRun(run.RunId, r => r.Status == "Running", "Running");
        await Eventually(async () => await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", run.RunId) == 3, "3 batches staged");

        using var reader = Stack.Api("reader");
        await Db.Execute("DO $$ BEGIN EXECUTE format('REVOKE UPDATE ON runsaga.runs FROM %I', current_database() || '_app'); END $$");
        try
        {
            await Publisher.Publish([run.Completed(batches)]);
            await Eventually(async () => (await DeadLettersOf(reader, run.RunId)).Count == 1, $"the run's ScrapeCompleted is in {RunsErrorQueue}");
        }
        finally
        {
            await Db.Execute("DO $$ BEGIN EXECUTE format('GRANT UPDATE ON runsaga.runs TO %I', current_database() || '_app'); END $$");
        }

        var letter = (await DeadLettersOf(reader, run.RunId))[0];
        Assert.Equal("fault", letter.GetProperty("reason").GetString());
        Assert.Contains("permission denied", letter.GetProperty("faultMessage").GetString(), StringComparison.Ordinal);
        return (run, batches);
    }

    protected static async Task<List<JsonElement>> DeadLettersOf(HttpClient api, Guid runId)
    {
        using var response = await api.GetAsync($"errors/{RunsErrorQueue}?limit=500");
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return [];
        }

        return [.. (await response.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray()
            .Where(m => m.TryGetProperty("runId", out var id) && id.ValueKind == JsonValueKind.String && id.GetGuid() == runId)];
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="description"/> and the log tail.</summary>
    protected async Task Eventually(Func<Task<bool>> condition, string description, TimeSpan? timeout = null, TimeSpan? pollInterval = null)
    {
        var limit = timeout ?? RunSagaDb.DefaultTimeout;
        var deadline = DateTime.UtcNow + limit;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Not within {limit}: {description}{Environment.NewLine}{stack.Logs.Tail(60)}");
            }

            await Task.Delay(pollInterval ?? TimeSpan.FromMilliseconds(100));
        }
    }
}
