using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Failures;

/// <summary>ScrapeCompleted announces 3 batches; only 2 ever arrive (FLUSH_TIMEOUT is 4 s in the test stack).</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_batches_are_missing_at_the_flush_timeout(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_wait_the_flush_timeout_then_fail_FLUSH_INCOMPLETE_and_leave_projects_identical()
    {
        var source = NewSource("flush-incomplete");
        var (checksum, harmful) = await SeedBeforeAFailure(source);

        var run = new ScrapeRun(source);
        var batches = harmful.InBatches(20);
        Assert.Equal(3, batches.Count);
        await Publisher.Publish([run.Requested(), run.Started(), run.Scraped(batches[0]), run.Scraped(batches[1])]);
        var completedAt = DateTime.UtcNow;
        await Publisher.Publish(run.Completed(batches));

        var row = await ExpectFailed(run.RunId, "FLUSH_INCOMPLETE");
        Assert.True(row.FailedAt >= completedAt + RunSagaStack.FlushTimeout - TimeSpan.FromMilliseconds(250),
            $"The run failed at {row.FailedAt:O}, before FLUSH_TIMEOUT ({RunSagaStack.FlushTimeout}) after the scrape completed ({completedAt:O}).");
        Assert.Equal("failed", (string?)row.Step("flush")?["status"]);
        await AssertProjectsUntouchedBy(run.RunId, checksum);
    }
}
