using System.Text.Json;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;

namespace RunSaga.IntegrationTests.Crawling;

/// <summary>
/// Real crawlers crawl a real site on 127.0.0.1 through RunSaga, each test once with each: a Scrapy spider
/// (examples/scrapy, made a RunSaga scraper by clients/python's runsaga_scrapy) and a Crawlee CheerioCrawler
/// (examples/crawlee, wrapped by clients/typescript's runsaga-crawlee). What the crawler published is read back from a
/// queue of the test's own bound to the five scraper exchanges, so a message the integration drops, repeats or sends out
/// of order fails the test, and so does any item that reaches <c>runsaga.projects</c> other than the site shows it.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_crawler_crawls_a_site(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private const int BatchSize = 7;
    private static readonly CrawlOptions Batches = new(BatchSize);

    [Theory]
    [MemberData(nameof(Crawl.Crawlers), MemberType = typeof(Crawl))]
    public async Task Should_make_every_product_an_item_with_lineage(string crawler)
    {
        var source = NewSource(crawler);
        await using var site = new LocalSite(productCount: 45);
        await using var tap = await CrawlTap.Open(Publisher);

        var crawl = await Crawl.Run(crawler, Stack, site, source, Batches);

        Assert.Equal(0, crawl.ExitCode);
        Assert.Equal(crawl.RunId.ToString(), crawl.Stat("run_id"));
        Assert.Equal("completed", crawl.Stat("outcome"));
        var row = await ExpectCompleted(crawl.RunId);
        Assert.Equal((45, 7, 45), (row.StagedItems, row.StagedBatches, row.Inserted));
        await CrawlTap.AssertPublishedInOrder(tap, crawl.RunId, site.Products.Count, "ScrapeCompleted", BatchSize);
        await AssertProjectsShow(site, source);
        Assert.Equal(45, await Db.Count("""
            SELECT count(*) FROM runsaga.projects
            WHERE source = @p0 AND created_by_run_id = @p1 AND last_updated_by_run_id = @p1 AND last_confirmed_run_id = @p1
              AND batch_id IS NOT NULL
            """, source, crawl.RunId));
        Assert.Equal(45, await Db.Count(
            "SELECT count(*) FROM runsaga.project_lineage WHERE source = @p0 AND run_id = @p1 AND change = 'created'", source, crawl.RunId));
    }

    [Theory]
    [MemberData(nameof(Crawl.Crawlers), MemberType = typeof(Crawl))]
    public async Task Should_update_exactly_the_pages_that_changed_on_the_next_crawl(string crawler)
    {
        var source = NewSource($"{crawler}-again");
        await using var site = new LocalSite(productCount: 30);
        var first = await Crawl.Run(crawler, Stack, site, source, Batches);
        await ExpectCompleted(first.RunId);

        string[] edited = ["sku-0003", "sku-0011", "sku-0027"];
        string[] removed = ["sku-0005", "sku-0020"];
        foreach (var sku in edited)
        {
            site.Edit(sku, p => p with { Price = p.Price + 1, Description = p.Description + " Now with a warranty." });
        }

        foreach (var sku in removed)
        {
            site.Remove(sku);
        }

        Product[] added = [.. Enumerable.Range(31, 4).Select(Product.Numbered)];
        foreach (var product in added)
        {
            site.Add(product);
        }

        await using var tap = await CrawlTap.Open(Publisher);
        var second = await Crawl.Run(crawler, Stack, site, source, Batches);

        var row = await ExpectCompleted(second.RunId);
        Assert.Equal((4, 3, 25, 0), (row.Inserted, row.Updated, row.Unchanged, row.Errored));
        await CrawlTap.AssertPublishedInOrder(tap, second.RunId, 32, "ScrapeCompleted", BatchSize);
        await AssertProjectsShow(site, source, alsoKept: removed);
        var changes = await Db.Query(
            "SELECT key, change FROM runsaga.project_lineage WHERE source = @p0 AND run_id = @p1 ORDER BY key",
            r => $"{r.GetString(0)}:{r.GetString(1)}", source, second.RunId);
        string[] expected = [.. added.Select(p => $"{p.Sku}:created"), .. edited.Select(sku => $"{sku}:updated")];
        Assert.Equal(expected.Order(StringComparer.Ordinal), changes.Order(StringComparer.Ordinal));
        // Untouched pages: still created and last updated by the first crawl, confirmed by the second.
        Assert.Equal(25, await Db.Count("""
            SELECT count(*) FROM runsaga.projects
            WHERE source = @p0 AND created_by_run_id = @p1 AND last_updated_by_run_id = @p1 AND last_confirmed_run_id = @p2
            """, source, first.RunId, second.RunId));
        // Removed pages: kept as the first crawl left them, not confirmed by the second.
        Assert.Equal(2, await Db.Count("""
            SELECT count(*) FROM runsaga.projects
            WHERE source = @p0 AND key = ANY(@p1) AND last_updated_by_run_id = @p2 AND last_confirmed_run_id = @p2
            """, source, removed, first.RunId));
    }

    [Theory]
    [MemberData(nameof(Crawl.Crawlers), MemberType = typeof(Crawl))]
    public async Task Should_fail_a_crawl_stopped_half_way_and_change_nothing(string crawler)
    {
        var source = NewSource($"{crawler}-stopped");
        await using var site = new LocalSite(productCount: 40);
        await ExpectCompleted((await Crawl.Run(crawler, Stack, site, source, Batches)).RunId);
        var before = await Db.ProjectsChecksum(source);
        foreach (var product in site.Products.Take(25).ToList())
        {
            site.Edit(product.Sku, p => p with { Title = p.Title + " (new)" });
        }

        await using var tap = await CrawlTap.Open(Publisher);
        var stopped = await Crawl.Run(crawler, Stack, site, source, Batches with { StopAfter = 20 });

        Assert.Equal("failed", stopped.Stat("outcome"));
        var row = await ExpectFailed(stopped.RunId, "STOPPED_HALF_WAY");
        Assert.Contains("stopped_half_way", row.ErrorMessage);
        var published = await CrawlTap.AssertPublishedInOrder(tap, stopped.RunId, expectedItems: null, "ScrapeFailed", BatchSize);
        Assert.Equal(20, published);
        Assert.Equal(before, await Db.ProjectsChecksum(source));
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.project_lineage WHERE run_id = @p0", stopped.RunId));
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.run_promotions WHERE run_id = @p0", stopped.RunId));
    }

    [Theory]
    [MemberData(nameof(Crawl.Crawlers), MemberType = typeof(Crawl))]
    public async Task Should_stop_a_crawl_whose_broker_refuses_it_at_once_and_say_why(string crawler)
    {
        var source = NewSource($"{crawler}-refused");
        await using var site = new LocalSite(productCount: 40);
        var wrongPassword = new UriBuilder(Stack.Amqp) { Password = "not-the-password" }.Uri;
        var started = DateTime.UtcNow;

        var crawl = await Crawl.Run(crawler, Stack, site, source, Batches with { Amqp = wrongPassword.ToString() });

        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(60), "a refused login is not retried for RUNSAGA_RETRY_SECONDS");
        Assert.Equal("failed", crawl.Stat("outcome"));
        if (crawler == Crawl.Crawlee)
        {
            Assert.Equal(1, crawl.ExitCode); // the example exits 1 when its run failed (scrapy runspider exits 0 whatever the close reason)
        }

        Assert.Contains("RabbitMQ refused the login", crawl.Log);
        Assert.Null(await Db.FindRun(crawl.RunId));
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.projects WHERE source = @p0", source));
    }

    [Fact]
    public async Task Should_fail_a_crawlee_crawl_cut_short_by_an_abort_and_change_nothing()
    {
        // Crawlee's autoscaledPool.abort() ends crawler.run() as if the crawl were done, with pages still queued: for a
        // full run, RunSaga would take every product on them as gone. The adapter sees the queue unfinished.
        var source = NewSource("crawlee-aborted");
        await using var site = new LocalSite(productCount: 60);
        await ExpectCompleted((await Crawl.Run(Crawl.Crawlee, Stack, site, source, Batches)).RunId);
        var before = await Db.ProjectsChecksum(source);
        await using var tap = await CrawlTap.Open(Publisher);

        var aborted = await CrawleeCrawl.Run(Stack, site, source, Batches,
            Path.Combine(Stack.RepositoryRoot, "tests", "RunSaga.IntegrationTests", "Crawling", "aborted_crawler.mjs"), "--abort-after", "10");

        Assert.Equal(("failed", "CRAWL_INCOMPLETE"), (aborted.Stat("outcome"), aborted.Stat("error_code")));
        await ExpectFailed(aborted.RunId, "CRAWL_INCOMPLETE");
        Assert.InRange(await CrawlTap.AssertPublishedInOrder(tap, aborted.RunId, expectedItems: null, "ScrapeFailed", BatchSize), 10, 12);
        Assert.Equal(before, await Db.ProjectsChecksum(source));
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.project_lineage WHERE run_id = @p0", aborted.RunId));
    }

    /// <summary>Every product on the site is an ok item of the source, with the page's title, url, price and description.</summary>
    private async Task AssertProjectsShow(LocalSite site, string source, IReadOnlyCollection<string>? alsoKept = null)
    {
        var rows = await Db.Query(
            "SELECT key, title, url, data::text, status FROM runsaga.projects WHERE source = @p0 ORDER BY key COLLATE \"C\"",
            r => (Key: r.GetString(0), Title: r.GetString(1), Url: r.GetString(2), Data: JsonDocument.Parse(r.GetString(3)).RootElement.Clone(), Status: r.GetString(4)),
            source);
        var expected = site.Products.Select(p => p.Sku).Concat(alsoKept ?? []).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, rows.Select(r => r.Key));
        foreach (var product in site.Products)
        {
            var row = rows.Single(r => r.Key == product.Sku);
            Assert.Equal((product.Title, product.Url(site), "ok"), (row.Title, row.Url, row.Status));
            Assert.Equal(product.Price, row.Data.GetProperty("price").GetDecimal());
            Assert.Equal(product.Description, row.Data.GetProperty("description").GetString());
        }
    }
}
