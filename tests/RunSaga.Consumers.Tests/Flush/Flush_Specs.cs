using RunSaga.Consumers.Flush;
using RunSaga.Consumers.Staging;
using RunSaga.Consumers.Tests.Infrastructure;
using static RunSaga.Consumers.Tests.Infrastructure.Scrape;

namespace RunSaga.Consumers.Tests.Flush;

public sealed class When_batches_are_staged_before_the_scrape_completes(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_give_no_verdict_while_no_flush_is_requested()
    {
        var result = await new BatchStager(database.DataSource).StageAsync(Batch(Guid.NewGuid(), "b1", ["a"]), CancellationToken.None);

        Assert.Null(result.Flush);
    }
}

public sealed class When_the_flush_is_requested_before_the_last_batch(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly BatchStager stager = new(database.DataSource);
    private readonly FlushRequests flush = new(database.DataSource);

    [Fact]
    public async Task Should_wait_then_confirm_when_the_last_batch_is_staged()
    {
        var runId = Guid.NewGuid();
        await stager.StageAsync(Batch(runId, "b2", ["c", "d"]), CancellationToken.None);

        var requested = await flush.RequestAsync(Announce(runId, 5, 2), CancellationToken.None);
        var last = await stager.StageAsync(Batch(runId, "b1", Item("a"), Item("b"), Item(null)), CancellationToken.None);

        Assert.True(requested.FirstRequest);
        Assert.Equal(1, requested.Status.StagedBatches);
        Assert.Null(requested.Status.Verdict);
        var confirmed = last.Flush?.Verdict?.Confirmed;
        Assert.NotNull(confirmed);
        Assert.Equal(runId, confirmed.RunId);
        Assert.Equal(4, confirmed.StagedItems);
        Assert.Equal(2, confirmed.StagedBatches);
        Assert.Equal(1, confirmed.RejectedItems);
        Assert.Equal(["b1", "b2"], confirmed.BatchIds);
        var rejection = Assert.Single(confirmed.Rejections);
        Assert.Equal("b1", rejection.BatchId);
        Assert.Null(rejection.Key);
        Assert.Equal("missing key", rejection.Reason);
    }
}

public sealed class When_the_flush_is_requested_after_the_last_batch(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly BatchStager stager = new(database.DataSource);
    private readonly FlushRequests flush = new(database.DataSource);

    [Fact]
    public async Task Should_confirm_at_once_with_the_distinct_keys()
    {
        var runId = Guid.NewGuid();
        await stager.StageAsync(Batch(runId, "b1", ["a", "b", "a"]), CancellationToken.None);
        await stager.StageAsync(Batch(runId, "b2", ["b", "c"]), CancellationToken.None);

        var requested = await flush.RequestAsync(Announce(runId, 5, 2), CancellationToken.None);

        var confirmed = requested.Status.Verdict?.Confirmed;
        Assert.NotNull(confirmed);
        Assert.Equal(3, confirmed.StagedItems);
        Assert.Equal(2, confirmed.DuplicateItems);
        Assert.Null(requested.Status.Verdict!.Failed);
    }

    [Fact]
    public async Task Should_confirm_an_announced_empty_run()
    {
        var runId = Guid.NewGuid();

        var requested = await flush.RequestAsync(Announce(runId, 0, 0), CancellationToken.None);

        Assert.Equal(0, requested.Status.Verdict?.Confirmed?.StagedItems);
    }
}

public sealed class When_the_staged_counts_do_not_balance(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly BatchStager stager = new(database.DataSource);
    private readonly FlushRequests flush = new(database.DataSource);

    [Fact]
    public async Task Should_fail_with_COUNT_MISMATCH_when_the_items_differ()
    {
        var runId = Guid.NewGuid();
        await stager.StageAsync(Batch(runId, "b1", ["a", "b"]), CancellationToken.None);

        var requested = await flush.RequestAsync(Announce(runId, 3, 1), CancellationToken.None);

        var failed = requested.Status.Verdict?.Failed;
        Assert.NotNull(failed);
        Assert.Equal("COUNT_MISMATCH", failed.ErrorCode);
        Assert.Contains("announced 3 items in 1 batches; staged batches hold 2 items in 1 batches", failed.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_fail_with_COUNT_MISMATCH_when_more_batches_arrive_than_announced()
    {
        var runId = Guid.NewGuid();
        await stager.StageAsync(Batch(runId, "b1", ["a"]), CancellationToken.None);
        var requested = await flush.RequestAsync(Announce(runId, 1, 1), CancellationToken.None);

        var extra = await stager.StageAsync(Batch(runId, "b2", ["b"]), CancellationToken.None);

        Assert.NotNull(requested.Status.Verdict?.Confirmed);
        Assert.Equal("COUNT_MISMATCH", extra.Flush?.Verdict?.Failed?.ErrorCode);
    }
}

public sealed class When_a_flush_is_requested_twice(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly FlushRequests flush = new(database.DataSource);

    [Fact]
    public async Task Should_keep_the_first_request()
    {
        var runId = Guid.NewGuid();
        await flush.RequestAsync(Announce(runId, 10, 2), CancellationToken.None);

        var again = await flush.RequestAsync(Announce(runId, 99, 9), CancellationToken.None);

        Assert.False(again.FirstRequest);
        Assert.Equal(10, again.Status.ExpectedItems);
        Assert.Equal(2, again.Status.ExpectedBatches);
    }
}

public sealed class When_the_last_batch_and_the_flush_request_race(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly BatchStager stager = new(database.DataSource);
    private readonly FlushRequests flush = new(database.DataSource);

    [Fact]
    public async Task Should_always_reach_a_verdict_on_one_side()
    {
        for (var attempt = 0; attempt < 40; attempt++)
        {
            var runId = Guid.NewGuid();
            await stager.StageAsync(Batch(runId, "b1", ["a", "b"]), CancellationToken.None);

            var staging = Task.Run(() => stager.StageAsync(Batch(runId, "b2", ["c"]), CancellationToken.None));
            var requesting = Task.Run(() => flush.RequestAsync(Announce(runId, 3, 2), CancellationToken.None));
            var (staged, requested) = (await staging, await requesting);

            var verdicts = new[] { staged.Flush?.Verdict, requested.Status.Verdict }.Where(v => v is not null).ToList();
            Assert.NotEmpty(verdicts);
            Assert.All(verdicts, v => Assert.Equal(3, v!.Confirmed?.StagedItems));
        }
    }
}
