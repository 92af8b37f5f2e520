using RunSaga.Contracts;
using RunSaga.Orchestrator.Runs;
using RunSaga.Shared.Data;

namespace RunSaga.Specs;

public sealed class When_a_running_run_is_cancelled : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Requested());
        await Publish(Started());
        await RunIn(m => m.Running);
        await Publish(new CancelRun { RunId = RunId, Reason = "wrong input", RequestedBy = "alice" });
    }

    [Fact]
    public async Task Should_end_cancelled_and_announce_it_as_a_failure_with_its_code()
    {
        var run = await RunIn(m => m.Cancelled);
        Assert.Equal((RunStatus.Cancelled, ErrorCodes.Cancelled, "alice"), (run.Status, run.ErrorCode, run.CancelledBy));
        Assert.Contains("wrong input", run.ErrorMessage, StringComparison.Ordinal);
        Assert.True(await WasPublished<RunFailed>(m => m.RunId == RunId && m.ErrorCode == ErrorCodes.Cancelled));

        // Its scrape completing afterwards starts no flush.
        await Publish(Completed(10, 1));
        Assert.True(await Consumed<ScrapeCompleted>());
        await Idle();
        Assert.False(await WasSent<FlushRun>(m => m.RunId == RunId));
    }
}

public sealed class When_a_flushed_run_is_cancelled : RunSagaHarness
{
    [Fact]
    public async Task Should_cancel_it_while_its_promotion_has_not_committed()
    {
        await DriveToFlushed();
        await Publish(new CancelRun { RunId = RunId, RequestedBy = "alice" });
        await RunIn(m => m.Cancelled);
    }

    [Fact]
    public async Task Should_refuse_once_its_promotion_committed()
    {
        await DriveToFlushed();
        Ledger.Promoted.Add(RunId);
        await Publish(new CancelRun { RunId = RunId, RequestedBy = "alice" });
        Assert.True(await Consumed<CancelRun>());
        await Idle();
        await RunIn(m => m.Flushed);
        await Publish(Upserted());
        await Publish(new LineageStamped { RunId = RunId });
        await RunIn(m => m.Completed);
    }
}

public sealed class When_a_completed_run_is_cancelled : RunSagaHarness
{
    [Fact]
    public async Task Should_stay_completed()
    {
        await DriveToCompleted();
        await Publish(new CancelRun { RunId = RunId, RequestedBy = "alice" });
        Assert.True(await Consumed<CancelRun>());
        await Idle();
        var run = await RunIn(m => m.Completed);
        Assert.Null(run.ErrorCode);
        Assert.False(await WasPublished<RunFailed>(m => m.RunId == RunId));
    }
}
