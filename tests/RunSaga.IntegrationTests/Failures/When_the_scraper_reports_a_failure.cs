using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Failures;

/// <summary>The scraper stages two batches of changes, then publishes ScrapeFailed.</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_the_scraper_reports_a_failure(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_fail_with_the_scrapers_error_and_leave_projects_identical()
    {
        var source = NewSource("scrape-failed");
        var (checksum, harmful) = await SeedBeforeAFailure(source);

        var run = new ScrapeRun(source);
        await Publisher.Publish([
            run.Requested(),
            run.Started(),
            .. harmful.InBatches(30).Select(run.Scraped),
            run.Failed("UPSTREAM_UNAVAILABLE", "the site answered 503 for an hour", "last status 503 at page 17"),
        ]);

        var row = await ExpectFailed(run.RunId, "UPSTREAM_UNAVAILABLE");
        Assert.Equal("the site answered 503 for an hour", row.ErrorMessage);
        Assert.Equal("last status 503 at page 17", row.ErrorDetail);
        Assert.NotNull(row.FailedAt);
        await AssertProjectsUntouchedBy(run.RunId, checksum);
    }
}
