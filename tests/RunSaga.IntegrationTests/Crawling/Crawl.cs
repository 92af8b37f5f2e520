using RunSaga.IntegrationTests.Fixture;

namespace RunSaga.IntegrationTests.Crawling;

/// <summary>
/// How a test crawls: items per batch, optionally a crawl stopped after so many products, another AMQP URI, and settings
/// of the crawler's own (Scrapy: <c>-s NAME=value</c>; Crawlee: environment variables).
/// </summary>
public sealed record CrawlOptions(int BatchSize, int? StopAfter = null, string? Amqp = null, IReadOnlyDictionary<string, string>? Settings = null);

/// <summary>
/// How a crawl ended: the crawler's exit code, the run it logged (<c>RunSaga run &lt;id&gt; started</c>), its whole log,
/// and the RunSaga figures it reported (<c>run_id</c>, <c>items</c>, <c>batches</c>, <c>outcome</c>, <c>reconnects</c>).
/// </summary>
public sealed record CrawlOutcome(int ExitCode, Guid RunId, string Log, IReadOnlyDictionary<string, string> Stats)
{
    public string Stat(string name) => Stats.TryGetValue(name, out var value)
        ? value
        : throw new Xunit.Sdk.XunitException($"the crawl reported no '{name}'.{Environment.NewLine}{Log}");
}

/// <summary>
/// The two real crawlers the tests run against a <see cref="LocalSite"/>: <c>scrapy</c> (examples/scrapy with
/// clients/python) and <c>crawlee</c> (examples/crawlee with clients/typescript). Each is a process of its own, started
/// as its users start it.
/// </summary>
public static class Crawl
{
    public const string Scrapy = "scrapy";
    public const string Crawlee = "crawlee";

    /// <summary>Both crawlers, for a <c>[Theory]</c>.</summary>
    public static TheoryData<string> Crawlers => [Scrapy, Crawlee];

    public static Task<CrawlOutcome> Run(string crawler, RunSagaStack stack, LocalSite site, string source, CrawlOptions options) => crawler switch
    {
        Scrapy => ScrapyCrawl.Run(stack, site, source, options),
        Crawlee => CrawleeCrawl.Run(stack, site, source, options),
        _ => throw new ArgumentOutOfRangeException(nameof(crawler), crawler, "scrapy or crawlee"),
    };

    /// <summary>
    /// Every node of the test's broker cluster as an AMQP URI with <paramref name="amqp"/>'s user, separated by commas:
    /// what a scraper of a clustered RunSaga is given (wire-format.md, section 1).
    /// </summary>
    public static string ClusterUris(Uri amqp) => string.Join(",", TestSettings.ClusterAmqpNodes.Select(node =>
        new UriBuilder(amqp) { Host = node.Split(':')[0], Port = int.Parse(node.Split(':')[1]) }.Uri.ToString()));

    /// <summary>A crawl may not take longer: the slowest (a broker restart in the middle) takes well under a minute.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    /// <summary>The run id from the crawler's <c>RunSaga run &lt;id&gt; started</c> line; the test fails without one.</summary>
    public static Guid LoggedRunId(Shell.Result result, string crawler)
    {
        var match = System.Text.RegularExpressions.Regex.Match(result.Output, @"RunSaga run ([0-9a-f-]{36}) started");
        Assert.True(match.Success, $"the {crawler} crawl logged no RunSaga run (exit code {result.ExitCode}).{Environment.NewLine}{result.Output}");
        return Guid.Parse(match.Groups[1].Value);
    }
}
