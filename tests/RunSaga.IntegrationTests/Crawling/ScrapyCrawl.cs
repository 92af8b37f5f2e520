using System.Text.RegularExpressions;
using RunSaga.IntegrationTests.Fixture;

namespace RunSaga.IntegrationTests.Crawling;

/// <summary>
/// Runs the example Scrapy spider (<c>examples/scrapy/shop_spider.py</c>) with <c>scrapy runspider</c>, the
/// <c>runsaga_scrapy</c> package on its path (<c>clients/python</c>), against a <see cref="LocalSite"/> and the test's
/// virtual host: a real crawl, as a Scrapy team runs one.
/// </summary>
public static partial class ScrapyCrawl
{
    private static readonly Lazy<Task<string?>> Missing = new(FindMissing);

    public static async Task<CrawlOutcome> Run(RunSagaStack stack, LocalSite site, string source, CrawlOptions options)
    {
        // Scrapy must be there: scripts/test installs it (python3-scrapy). A test without it fails, it does not skip.
        if (await Missing.Value is { } missing)
        {
            Assert.Fail(missing);
        }

        string[] arguments =
        [
            "-m", "scrapy", "runspider", Path.Combine(stack.RepositoryRoot, "examples", "scrapy", "shop_spider.py"),
            "-a", $"start_url={site.StartUrl}",
            "-s", $"RUNSAGA_AMQP_URL={options.Amqp ?? stack.Amqp.ToString()}",
            "-s", $"RUNSAGA_SOURCE={source}",
            "-s", $"RUNSAGA_BATCH_SIZE={options.BatchSize}",
            "-s", "LOG_LEVEL=INFO",
            .. options.StopAfter is { } stopAfter ? ["-a", $"stop_after={stopAfter}"] : Array.Empty<string>(),
            .. (options.Settings ?? new Dictionary<string, string>()).SelectMany(setting => new[] { "-s", $"{setting.Key}={setting.Value}" }),
        ];
        var work = Directory.CreateTempSubdirectory("runsaga-scrapy-");
        try
        {
            // Scrapy may write its .scrapy folder into the working directory: never into the repository. No
            // __pycache__ folders in clients/python and examples/scrapy either.
            var result = await Shell.Execute(TestSettings.Python, arguments, Crawl.Timeout, work.FullName, new Dictionary<string, string>
            {
                ["PYTHONPATH"] = Path.Combine(stack.RepositoryRoot, "clients", "python"),
                ["PYTHONDONTWRITEBYTECODE"] = "1",
            });
            return new CrawlOutcome(result.ExitCode, Crawl.LoggedRunId(result, Crawl.Scrapy), result.Output, ReadStats(result.Output));
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static async Task<string?> FindMissing()
    {
        var result = await Shell.Execute(TestSettings.Python, ["-c", "import scrapy, pika"], TimeSpan.FromMinutes(1));
        return result.ExitCode == 0
            ? null
            : $"{TestSettings.Python} cannot import scrapy and pika ({result.Stderr.Trim()}): apt-get install python3-scrapy python3-pika (scripts/test does), or set RUNSAGA_PYTHON";
    }

    /// <summary>The <c>runsaga/…</c> lines of Scrapy's "Dumping Scrapy stats" block, named without their prefix.</summary>
    private static Dictionary<string, string> ReadStats(string log)
    {
        var stats = new Dictionary<string, string>(StringComparer.Ordinal);
        var at = log.LastIndexOf("Dumping Scrapy stats", StringComparison.Ordinal);
        if (at < 0)
        {
            return stats;
        }

        foreach (Match match in StatLine().Matches(log[at..]))
        {
            stats[match.Groups[1].Value] = match.Groups[2].Value.Trim().Trim('\'');
        }

        return stats;
    }

    [GeneratedRegex(@"^[{\s]*'runsaga/([^']+)': (.*?),?\}?\r?$", RegexOptions.Multiline)]
    private static partial Regex StatLine();
}
