using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Failures;

/// <summary>Every announced batch arrives, but ScrapeCompleted announces 5 items more than they hold.</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_the_item_counts_do_not_balance(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_fail_COUNT_MISMATCH_at_once_and_leave_projects_identical()
    {
        var source = NewSource("count-mismatch");
        var (checksum, harmful) = await SeedBeforeAFailure(source);

        var run = new ScrapeRun(source);
        var batches = harmful.InBatches(30);
        await Publisher.Publish([run.Requested(), run.Started(), .. batches.Select(run.Scraped)]);
        var completedAt = DateTime.UtcNow;
        await Publisher.Publish(run.Completed(harmful.Count + 5, batches.Count));

        var row = await ExpectFailed(run.RunId, "COUNT_MISMATCH");
        Assert.True(row.FailedAt < completedAt + RunSagaStack.FlushTimeout,
            $"COUNT_MISMATCH should not wait for FLUSH_TIMEOUT: completed at {completedAt:O}, failed at {row.FailedAt:O}.");
        await AssertProjectsUntouchedBy(run.RunId, checksum);
    }
}
