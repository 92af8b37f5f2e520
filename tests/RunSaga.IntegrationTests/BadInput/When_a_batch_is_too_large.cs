using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.BadInput;

/// <summary>One batch of 10,001 items: over the documented limit of 10,000 items per batch.</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_batch_is_too_large(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_refuse_it_whole_and_fail_the_run_with_BATCH_TOO_LARGE()
    {
        var source = NewSource("too-large");
        var (checksum, _) = await SeedBeforeAFailure(source);
        var run = new ScrapeRun(source);
        List<Batch> batches = [new("huge", [.. Enumerable.Range(1, 10_001).Select(i => new Item($"item-{i:D5}", $"t{i}"))])];

        await Publisher.Publish(run.Whole(batches));

        var row = await ExpectFailed(run.RunId, "BATCH_TOO_LARGE");
        Assert.Contains("huge", $"{row.ErrorMessage} {row.ErrorDetail}", StringComparison.Ordinal);
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.staged_items WHERE run_id = @p0", run.RunId));
        await AssertProjectsUntouchedBy(run.RunId, checksum);
    }
}
