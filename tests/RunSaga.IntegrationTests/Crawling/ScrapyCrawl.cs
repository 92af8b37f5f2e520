using System.Diagnostics;
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
    public sealed record Outcome(int ExitCode, Guid RunId, string Log, IReadOnlyDictionary<string, string> Stats)
    {
        public string Stat(string name) => Stats.TryGetValue(name, out var value)
            ? value
            : throw new Xunit.Sdk.XunitException($"the crawl's stats have no '{name}'.{Environment.NewLine}{Log}");
    }

    /// <summary>Crawls <paramref name="site"/> as source <paramref name="source"/>; more <c>-s</c>/<c>-a</c> options may follow.</summary>
    public static async Task<Outcome> Run(RunSagaStack stack, LocalSite site, string source, params string[] options)
    {
        await EnsureScrapy();
        var work = Directory.CreateTempSubdirectory("runsaga-scrapy-");
        try
        {
            var info = new ProcessStartInfo(TestSettings.Python)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                // Scrapy may write its .scrapy folder into the working directory: never into the repository.
                WorkingDirectory = work.FullName,
            };
            info.Environment["PYTHONPATH"] = Path.Combine(stack.RepositoryRoot, "clients", "python");
            // No __pycache__ folders written into the repository's clients/python and examples/scrapy.
            info.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
            string[] arguments =
            [
                "-m", "scrapy", "runspider", Path.Combine(stack.RepositoryRoot, "examples", "scrapy", "shop_spider.py"),
                "-a", $"start_url={site.StartUrl}",
                "-s", $"RUNSAGA_AMQP_URL={stack.Amqp}",
                "-s", $"RUNSAGA_SOURCE={source}",
                "-s", "LOG_LEVEL=INFO",
                .. options,
            ];
            foreach (var argument in arguments)
            {
                info.ArgumentList.Add(argument);
            }

            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"the crawl did not end within 3 minutes.{Environment.NewLine}{await stderr}");
            }

            var log = (await stdout) + (await stderr);
            var started = RunStarted().Match(log);
            Assert.True(started.Success, $"the crawl logged no RunSaga run (exit code {process.ExitCode}).{Environment.NewLine}{log}");
            return new Outcome(process.ExitCode, Guid.Parse(started.Groups[1].Value), log, ReadStats(log));
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>Scrapy must be there: scripts/test installs it (python3-scrapy). A test without it fails, it does not skip.</summary>
    private static async Task EnsureScrapy()
    {
        var info = new ProcessStartInfo(TestSettings.Python, ["-c", "import scrapy, pika; print(scrapy.__version__)"])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info)!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0,
            $"{TestSettings.Python} cannot import scrapy and pika ({error.Trim()}): apt-get install python3-scrapy python3-pika (scripts/test does), or set RUNSAGA_PYTHON");
    }

    /// <summary>Scrapy's "Dumping Scrapy stats" block: <c>'name': value,</c> lines.</summary>
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

    [GeneratedRegex(@"RunSaga run ([0-9a-f-]{36}) started")]
    private static partial Regex RunStarted();

    [GeneratedRegex(@"^[{\s]*'([^']+)': (.*?),?\}?\r?$", RegexOptions.Multiline)]
    private static partial Regex StatLine();
}
