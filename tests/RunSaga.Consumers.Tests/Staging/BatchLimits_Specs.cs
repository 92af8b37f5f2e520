using RunSaga.Consumers.Staging;
using RunSaga.Shared.Hosting;
using static RunSaga.Consumers.Tests.Infrastructure.Scrape;

namespace RunSaga.Consumers.Tests.Staging;

public sealed class When_a_batch_breaks_a_whole_batch_rule
{
    private static readonly RunSagaOptions Options = new() { MaxBatchItems = 3, MaxBatchBytes = 4096 };

    [Fact]
    public void Should_refuse_a_batch_with_too_many_items()
    {
        var runId = Guid.NewGuid();

        var rejected = BatchLimits.Check(Batch(runId, "b1", ["a", "b", "c", "d"]), 100, Options);

        Assert.NotNull(rejected);
        Assert.Equal(runId, rejected.RunId);
        Assert.Equal("b1", rejected.BatchId);
        Assert.Equal("BATCH_TOO_LARGE", rejected.ErrorCode);
        Assert.Contains("4 items", rejected.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("split it into smaller batches", rejected.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_refuse_a_batch_whose_body_is_too_large()
    {
        var rejected = BatchLimits.Check(Batch(Guid.NewGuid(), "b1", ["a"]), 4097, Options);

        Assert.Equal("BATCH_TOO_LARGE", rejected?.ErrorCode);
        Assert.Contains("4097 bytes", rejected!.ErrorMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    [InlineData("bad\0id")]
    public void Should_refuse_a_batch_without_a_usable_batch_id(string? batchId)
    {
        var rejected = BatchLimits.Check(new Contracts.ItemsScraped { RunId = Guid.NewGuid(), BatchId = batchId! }, 100, Options);

        Assert.Equal("INVALID_BATCH", rejected?.ErrorCode);
        Assert.DoesNotContain('\0', rejected!.BatchId);
    }

    [Fact]
    public void Should_let_a_batch_within_the_limits_through()
    {
        Assert.Null(BatchLimits.Check(Batch(Guid.NewGuid(), "b1", ["a", "b", "c"]), 4096, Options));
    }
}
