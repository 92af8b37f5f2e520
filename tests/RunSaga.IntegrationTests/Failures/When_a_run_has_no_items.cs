using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Failures;

/// <summary>ScrapeCompleted with totalItems 0 and totalBatches 0, for a source that has items.</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_run_has_no_items(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Theory]
    [InlineData("ingestion")]
    [InlineData("manual_reindex")]
    public async Task Should_fail_a_full_run_with_NO_ITEMS_and_leave_projects_identical(string processType)
    {
        var source = NewSource("no-items");
        var (checksum, _) = await SeedBeforeAFailure(source);

        var run = new ScrapeRun(source, processType);
        await Publisher.Publish([run.Requested(), run.Started(), run.Completed(totalItems: 0, totalBatches: 0)]);

        await ExpectFailed(run.RunId, "NO_ITEMS");
        await AssertProjectsUntouchedBy(run.RunId, checksum);
    }

    [Fact]
    public async Task Should_complete_a_sync_run_with_zero_changes()
    {
        var source = NewSource("empty-sync");
        var (checksum, _) = await SeedBeforeAFailure(source);

        var run = new ScrapeRun(source, "sync");
        await Publisher.Publish([run.Requested(), run.Started(), run.Completed(totalItems: 0, totalBatches: 0)]);

        var row = await ExpectCompleted(run.RunId);
        Assert.Equal((0, 0, 0, 0), (row.Inserted, row.Updated, row.Unchanged, row.Errored));
        Assert.Equal(0, row.StagedItems);
        Assert.Equal(checksum, await Db.ProjectsChecksum());
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.project_lineage WHERE run_id = @p0", run.RunId));
    }
}
