using RunSaga.Contracts;
using RunSaga.Orchestrator.Runs;
using RunSaga.Shared.Data;

namespace RunSaga.Specs;

public sealed class When_the_scrape_completes : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Requested());
        await Publish(Started());
        await RunIn(m => m.Running);
        await Publish(Completed(250, 3));
    }

    [Fact]
    public async Task Should_ask_for_the_flush_with_the_announced_counts()
    {
        var run = await RunIn(m => m.Flushing);
        Assert.Equal(RunStatus.Running, run.Status);
        Assert.Equal(250, run.ExpectedItems);
        Assert.Equal(3, run.ExpectedBatches);
        Assert.NotNull(run.FlushDeadline);
        Assert.True(await WasSent<FlushRun>(m => m.RunId == RunId && m.ExpectedItems == 250 && m.ExpectedBatches == 3));
    }

    [Fact]
    public async Task Should_ignore_a_repeated_completion()
    {
        await RunIn(m => m.Flushing);
        await Publish(Completed(999, 9));
        Assert.True(await Consumed<ScrapeCompleted>());
        await Idle();
        var run = await RunIn(m => m.Flushing);
        Assert.Equal(250, run.ExpectedItems);
        Assert.Equal(1, CountSent<FlushRun>(m => m.RunId == RunId));
    }
}

public sealed class When_a_queued_run_completes_without_starting : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Requested());
        await RunIn(m => m.Queued);
        await Publish(Completed(5, 1));
    }

    [Fact]
    public async Task Should_count_as_started_and_ask_for_the_flush()
    {
        var run = await RunIn(m => m.Flushing);
        Assert.NotNull(run.StartedAt);
        Assert.True(await WasSent<FlushRun>(m => m.RunId == RunId));
    }
}

public sealed class When_the_scrape_completes_before_the_run_is_known : RunSagaHarness
{
    protected override Task Given() => Publish(Completed(20, 2));

    [Fact]
    public async Task Should_wait_as_queued_without_asking_for_a_flush()
    {
        var run = await RunIn(m => m.AwaitingStart);
        Assert.Equal(RunStatus.Queued, run.Status);
        await Idle();
        Assert.Equal(0, CountSent<FlushRun>(m => m.RunId == RunId));
    }

    [Fact]
    public async Task Should_ask_for_the_flush_once_the_run_starts()
    {
        await RunIn(m => m.AwaitingStart);
        await Publish(Started());
        var run = await RunIn(m => m.Flushing);
        Assert.Equal(Source, run.Source);
        Assert.True(await WasSent<FlushRun>(m => m.RunId == RunId && m.ExpectedItems == 20 && m.ExpectedBatches == 2));
    }

    [Fact]
    public async Task Should_ask_for_the_flush_once_the_run_is_requested()
    {
        await RunIn(m => m.AwaitingStart);
        await Publish(Requested());
        await RunIn(m => m.Flushing);
        Assert.True(await WasPublished<RunAccepted>(m => m.RunId == RunId));
        Assert.True(await WasSent<FlushRun>(m => m.RunId == RunId));
    }

    [Fact]
    public async Task Should_fail_when_nobody_names_the_run_before_the_flush_timeout()
    {
        await RunIn(m => m.AwaitingStart);
        Clock.Advance(FlushTimeout * 2);
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "flush" });
        var run = await RunIn(m => m.Failed);
        Assert.Equal(ErrorCodes.RunNeverIdentified, run.ErrorCode);
    }
}

public sealed class When_the_flush_is_confirmed : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Requested());
        await Publish(Started());
        await RunIn(m => m.Running);
        await Publish(Completed(10, 2));
        await RunIn(m => m.Flushing);
        await Publish(Flushed(9, 2) with
        {
            RejectedItems = 1,
            Rejections = [new ItemRejection { BatchId = "b2", Key = "", Reason = "missing key" }],
        });
    }

    [Fact]
    public async Task Should_be_flushed_and_ask_for_promotion()
    {
        var run = await RunIn(m => m.Flushed);
        Assert.Equal(RunStatus.Flushed, run.Status);
        Assert.Equal(9, run.StagedItems);
        Assert.Equal(2, run.StagedBatches);
        Assert.Equal(1, run.RejectedItems);
        Assert.Equal(["b1", "b2"], run.BatchIds);
        Assert.Null(run.FlushDeadline);
        Assert.Null(run.RunDeadline);
        Assert.Contains("\"name\":\"flush\",\"status\":\"succeeded\"", run.Metrics, StringComparison.Ordinal);
        Assert.Contains("missing key", run.Metrics, StringComparison.Ordinal);
        Assert.True(await WasSent<PromoteRun>(m => m.RunId == RunId && m.Source == Source && m.ProcessType == ProcessType.Ingestion));
    }

    [Fact]
    public async Task Should_promote_once_when_the_confirmation_repeats()
    {
        await RunIn(m => m.Flushed);
        await Publish(Flushed(9, 2));
        await Idle();
        Assert.Equal(1, CountSent<PromoteRun>(m => m.RunId == RunId));
    }
}

public sealed class When_a_full_run_flushes_zero_items : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Started(ProcessType.Ingestion));
        await Publish(Completed(0, 0));
        await RunIn(m => m.Flushing);
        await Publish(Flushed(0, 0));
    }

    [Fact]
    public async Task Should_fail_with_no_items_and_not_promote()
    {
        var run = await RunIn(m => m.Failed);
        Assert.Equal(ErrorCodes.NoItems, run.ErrorCode);
        Assert.True(await WasPublished<RunFailed>(m => m.RunId == RunId && m.ErrorCode == ErrorCodes.NoItems));
        await Idle();
        Assert.Equal(0, CountSent<PromoteRun>(m => m.RunId == RunId));
    }
}

public sealed class When_a_sync_run_flushes_zero_items : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Started(ProcessType.Sync));
        await Publish(Completed(0, 0));
        await RunIn(m => m.Flushing);
        await Publish(Flushed(0, 0));
    }

    [Fact]
    public async Task Should_go_on_to_promotion()
    {
        await RunIn(m => m.Flushed);
        Assert.True(await WasSent<PromoteRun>(m => m.RunId == RunId && m.ProcessType == ProcessType.Sync));
    }
}

public sealed class When_the_flush_fails : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Started());
        await Publish(Completed(10, 2));
        await RunIn(m => m.Flushing);
        await Publish(new FlushFailed { RunId = RunId, ErrorCode = ErrorCodes.CountMismatch, ErrorMessage = "10 announced, 8 staged" });
    }

    [Fact]
    public async Task Should_fail_with_the_flush_error()
    {
        var run = await RunIn(m => m.Failed);
        Assert.Equal(ErrorCodes.CountMismatch, run.ErrorCode);
        Assert.Contains("\"name\":\"flush\",\"status\":\"failed\"", run.Metrics, StringComparison.Ordinal);
        Assert.True(await WasPublished<RunFailed>(m => m.RunId == RunId && m.ErrorCode == ErrorCodes.CountMismatch && m.Source == Source));
    }
}

public sealed class When_the_flush_deadline_passes : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Started());
        await Publish(Completed(10, 2));
        await RunIn(m => m.Flushing);
    }

    [Fact]
    public async Task Should_fail_with_flush_incomplete()
    {
        Clock.Advance(FlushTimeout * 2);
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "flush" });
        var run = await RunIn(m => m.Failed);
        Assert.Equal(ErrorCodes.FlushIncomplete, run.ErrorCode);
        Assert.True(await WasPublished<FlushFailed>(m => m.RunId == RunId && m.ErrorCode == ErrorCodes.FlushIncomplete));
        Assert.True(await WasPublished<RunFailed>(m => m.RunId == RunId && m.ErrorCode == ErrorCodes.FlushIncomplete));
    }

    [Fact]
    public async Task Should_ignore_a_late_confirmation_after_failing()
    {
        Clock.Advance(FlushTimeout * 2);
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "flush" });
        await RunIn(m => m.Failed);
        await Publish(Flushed(10, 2));
        Assert.True(await Consumed<FlushConfirmed>());
        await Idle();
        await RunIn(m => m.Failed);
        Assert.Equal(0, CountSent<PromoteRun>(m => m.RunId == RunId));
    }
}

/// <summary>The deadline watcher saw the pipeline behind (an outage, a staging backlog): the verdict waits.</summary>
public sealed class When_the_flush_deadline_passes_while_the_pipeline_is_behind : RunSagaHarness
{
    private const string Behind = "runsaga.staging has no consumer (are the Consumers running?), 3 s ago";

    protected override async Task Given()
    {
        await Publish(Started());
        await Publish(Completed(10, 2));
        await RunIn(m => m.Flushing);
        Clock.Advance(FlushTimeout * 2);
    }

    [Fact]
    public async Task Should_postpone_the_verdict_by_the_staging_settle()
    {
        var before = Clock.GetUtcNow().UtcDateTime;
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "flush", HoldReason = Behind });
        Assert.True(await Consumed<RunDeadlinePassed>());
        await Idle();
        var run = await RunIn(m => m.Flushing);
        Assert.True(run.FlushDeadline >= before + StagingSettle, $"the flush deadline should move on by STAGING_SETTLE, it is {run.FlushDeadline:O}");
        Assert.Equal(0, CountPublished<RunFailed>(m => m.RunId == RunId));
    }

    [Fact]
    public async Task Should_confirm_the_flush_when_the_batches_arrive_after_all()
    {
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "flush", HoldReason = Behind });
        Assert.True(await Consumed<RunDeadlinePassed>());
        await Publish(Flushed(10, 2));
        await RunIn(m => m.Flushed);
        Assert.True(await WasSent<PromoteRun>(m => m.RunId == RunId));
    }

    [Fact]
    public async Task Should_still_end_at_the_run_timeout()
    {
        Clock.Advance(RunTimeout);
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "run", HoldReason = Behind });
        var run = await RunIn(m => m.Failed);
        Assert.Equal(ErrorCodes.RunTimeout, run.ErrorCode);
    }
}

public sealed class When_nobody_names_the_run_while_the_pipeline_is_behind : RunSagaHarness
{
    [Fact]
    public async Task Should_wait_and_fail_once_the_pipeline_has_kept_up()
    {
        await Publish(Completed(10, 2));
        await RunIn(m => m.AwaitingStart);
        Clock.Advance(FlushTimeout * 2);
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "flush", HoldReason = "the Orchestrator has just started, 1 s ago" });
        Assert.True(await Consumed<RunDeadlinePassed>());
        await Idle();
        await RunIn(m => m.AwaitingStart);

        // The verdict moved on by STAGING_SETTLE; once that has passed with the pipeline keeping up, the run fails.
        Clock.Advance(StagingSettle + TimeSpan.FromSeconds(1));
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "flush" });
        var run = await RunIn(m => m.Failed);
        Assert.Equal(ErrorCodes.RunNeverIdentified, run.ErrorCode);
    }
}

public sealed class When_a_deadline_event_comes_before_the_deadline : RunSagaHarness
{
    protected override TimeSpan FlushTimeout => TimeSpan.FromHours(1);

    protected override async Task Given()
    {
        await Publish(Started());
        await Publish(Completed(10, 2));
        await RunIn(m => m.Flushing);
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "flush" });
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "run" });
    }

    [Fact]
    public async Task Should_ignore_it_and_keep_waiting()
    {
        Assert.True(await Consumed<RunDeadlinePassed>());
        await Idle();
        await RunIn(m => m.Flushing);
        Assert.Equal(0, CountPublished<RunFailed>(m => m.RunId == RunId));
    }
}

public sealed class When_only_the_wall_clock_passes_the_flush_timeout : RunSagaHarness
{
    [Fact]
    public async Task Should_keep_waiting_until_the_sagas_own_clock_does()
    {
        await Publish(Started());
        await Publish(Completed(10, 2));
        await RunIn(m => m.Flushing);

        // The deadline is judged by the saga's TimeProvider, not the machine's clock.
        await Task.Delay(FlushTimeout * 2);
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "flush" });
        Assert.True(await Consumed<RunDeadlinePassed>());
        await Idle();
        await RunIn(m => m.Flushing);

        Clock.Advance(FlushTimeout);
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "flush" });
        var run = await RunIn(m => m.Failed);
        Assert.Equal(ErrorCodes.FlushIncomplete, run.ErrorCode);
    }
}
