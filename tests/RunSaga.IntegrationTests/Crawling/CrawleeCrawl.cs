using System.Text.Json;
using RunSaga.IntegrationTests.Fixture;

namespace RunSaga.IntegrationTests.Crawling;

/// <summary>
/// Runs the example Crawlee crawler (<c>examples/crawlee</c>, a <c>CheerioCrawler</c> wrapped by the
/// <c>runsaga-crawlee</c> package in <c>clients/typescript</c>) with Node.js against a <see cref="LocalSite"/> and the
/// test's virtual host, configured by <c>RUNSAGA_*</c> environment variables as a Crawlee team runs one. scripts/test
/// builds it (<c>npm ci</c>, <c>npm run build</c>); a missing build fails the test.
/// </summary>
public static class CrawleeCrawl
{
    private const string StatsLine = "RunSaga stats ";

    /// <param name="script">
    /// Another crawler than the example, taking <c>--start-url</c> and printing the same lines (a test's own, using the
    /// example's installed packages), with <paramref name="extra"/> arguments.
    /// </param>
    public static async Task<CrawlOutcome> Run(
        RunSagaStack stack, LocalSite site, string source, CrawlOptions options, string? script = null, params string[] extra)
    {
        var example = Path.Combine(stack.RepositoryRoot, "examples", "crawlee", "dist", "shop_crawler.js");
        Assert.True(File.Exists(example),
            $"{example} is missing: build it with `(cd clients/typescript && npm ci && npm run build) && (cd examples/crawlee && npm ci && npm run build)` (scripts/test does)");
        string[] arguments =
        [
            script ?? example, "--start-url", site.StartUrl,
            .. options.StopAfter is { } stopAfter ? ["--stop-after", stopAfter.ToString(System.Globalization.CultureInfo.InvariantCulture)] : Array.Empty<string>(),
            .. extra,
        ];
        // Crawlee keeps its storage (request queue, dataset) under the working directory: never the repository's.
        var work = Directory.CreateTempSubdirectory("runsaga-crawlee-");
        try
        {
            var environment = new Dictionary<string, string>(options.Settings ?? new Dictionary<string, string>())
            {
                ["RUNSAGA_AMQP_URL"] = options.Amqp ?? stack.Amqp.ToString(),
                ["RUNSAGA_SOURCE"] = source,
                ["RUNSAGA_BATCH_SIZE"] = options.BatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            var result = await Shell.Execute(TestSettings.Node, arguments, Crawl.Timeout, work.FullName, environment);
            return new CrawlOutcome(result.ExitCode, Crawl.LoggedRunId(result, Crawl.Crawlee), result.Output, ReadStats(result.Output));
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>The crawler's last line <c>RunSaga stats {json}</c>: every field as text.</summary>
    private static Dictionary<string, string> ReadStats(string log)
    {
        var stats = new Dictionary<string, string>(StringComparer.Ordinal);
        var line = log.Split('\n').LastOrDefault(l => l.Contains(StatsLine, StringComparison.Ordinal));
        if (line is null)
        {
            return stats;
        }

        using var json = JsonDocument.Parse(line[(line.IndexOf(StatsLine, StringComparison.Ordinal) + StatsLine.Length)..]);
        foreach (var field in json.RootElement.EnumerateObject())
        {
            stats[field.Name] = field.Value.ValueKind == JsonValueKind.String ? field.Value.GetString()! : field.Value.GetRawText();
        }

        return stats;
    }
}
