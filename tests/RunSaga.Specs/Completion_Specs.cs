using MassTransit;
using RunSaga.Contracts;
using RunSaga.Orchestrator.Runs;
using RunSaga.Shared.Data;

namespace RunSaga.Specs;

public sealed class When_the_projects_are_upserted_with_their_lineage : RunSagaHarness
{
    protected override async Task Given()
    {
        await DriveToFlushed();
        await Publish(Upserted(lineageRecorded: true));
    }

    [Fact]
    public async Task Should_complete_at_once_and_publish_run_completed_with_the_counts()
    {
        var run = await RunIn(m => m.Completed);
        Assert.Equal((3, 2, 1, 1), (run.Inserted, run.Updated, run.Unchanged, run.Errored));
        Assert.NotNull(run.CompletedAt);
        Assert.Null(run.ResendAt);
        Assert.Contains("\"name\":\"lineage\",\"status\":\"succeeded\"", run.Metrics, StringComparison.Ordinal);
        Assert.True(await WasPublished<RunCompleted>(m =>
            m.RunId == RunId && m.Source == Source && m.Inserted == 3 && m.Updated == 2 && m.Unchanged == 1 && m.Errored == 1));
        await Idle();
        Assert.Equal(0, CountSent<StampLineage>(m => m.RunId == RunId));
    }

    [Fact]
    public async Task Should_publish_run_completed_once_when_the_upsert_repeats()
    {
        await RunIn(m => m.Completed);
        await Publish(Upserted(lineageRecorded: true));
        await Idle();
        Assert.Equal(1, CountPublished<RunCompleted>(m => m.RunId == RunId));
    }
}

/// <summary>A promotion consumer from before the lineage summary moved into the promotion: the saga asks for it.</summary>
public sealed class When_the_projects_are_upserted_without_their_lineage : RunSagaHarness
{
    protected override async Task Given()
    {
        await DriveToFlushed();
        await Publish(Upserted());
    }

    [Fact]
    public async Task Should_record_the_counts_and_ask_for_lineage_while_still_flushed()
    {
        Assert.True(await WasSent<StampLineage>(m => m.RunId == RunId && m.Source == Source));
        var run = await RunIn(m => m.Flushed);
        Assert.Equal(3, run.Inserted);
        Assert.Equal(2, run.Updated);
        Assert.Equal(1, run.Unchanged);
        Assert.Equal(1, run.Errored);
    }

    [Fact]
    public async Task Should_ask_for_lineage_once_when_the_upsert_repeats()
    {
        Assert.True(await WasSent<StampLineage>(m => m.RunId == RunId));
        await Publish(Upserted());
        await Idle();
        Assert.Equal(1, CountSent<StampLineage>(m => m.RunId == RunId));
    }
}

public sealed class When_lineage_is_stamped : RunSagaHarness
{
    protected override Task Given() => DriveToCompleted(lineageRecorded: false);

    [Fact]
    public async Task Should_complete_and_publish_run_completed_with_the_counts()
    {
        var run = await RunIn(m => m.Completed);
        Assert.Equal(RunStatus.Completed, run.Status);
        Assert.NotNull(run.CompletedAt);
        Assert.Contains("\"name\":\"lineage\",\"status\":\"succeeded\"", run.Metrics, StringComparison.Ordinal);
        Assert.Contains("\"name\":\"promotion\",\"status\":\"succeeded\"", run.Metrics, StringComparison.Ordinal);
        Assert.True(await WasPublished<RunCompleted>(m =>
            m.RunId == RunId && m.Source == Source && m.Inserted == 3 && m.Updated == 2 && m.Unchanged == 1 && m.Errored == 1));
    }

    [Fact]
    public async Task Should_publish_run_completed_once_when_the_stamp_repeats()
    {
        await Publish(new LineageStamped { RunId = RunId });
        await Idle();
        Assert.Equal(1, CountPublished<RunCompleted>(m => m.RunId == RunId));
    }
}

public sealed class When_lineage_is_stamped_before_the_upsert_is_known : RunSagaHarness
{
    protected override async Task Given()
    {
        await DriveToFlushed();
        await Publish(new LineageStamped { RunId = RunId });
    }

    [Fact]
    public async Task Should_not_complete_yet()
    {
        Assert.True(await Consumed<LineageStamped>());
        await Idle();
        await RunIn(m => m.Flushed);
        Assert.Equal(0, CountPublished<RunCompleted>(m => m.RunId == RunId));
    }
}

public sealed class When_the_promotion_faults : RunSagaHarness
{
    protected override async Task Given()
    {
        await DriveToFlushed();
        var promote = new PromoteRun { RunId = RunId, Source = Source, ProcessType = ProcessType.Ingestion };
        await Harness.Bus.Publish<Fault<PromoteRun>>(new
        {
            Message = promote,
            FaultId = NewId.NextGuid(),
            Timestamp = DateTime.UtcNow,
            Exceptions = new ExceptionInfo[] { new MassTransit.Events.FaultExceptionInfo(new InvalidOperationException("P0001: poison item")) },
            FaultMessageTypes = new[] { "urn:message:RunSaga.Contracts:PromoteRun" },
        });
    }

    [Fact]
    public async Task Should_fail_with_promotion_failed()
    {
        var run = await RunIn(m => m.Failed);
        Assert.Equal(ErrorCodes.PromotionFailed, run.ErrorCode);
        Assert.Contains("poison item", run.ErrorDetail, StringComparison.Ordinal);
        Assert.Contains("\"name\":\"promotion\",\"status\":\"failed\"", run.Metrics, StringComparison.Ordinal);
        Assert.True(await WasPublished<RunFailed>(m => m.RunId == RunId && m.ErrorCode == ErrorCodes.PromotionFailed));
    }
}

public sealed class When_the_scraper_fails : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Requested());
        await Publish(Started());
        await RunIn(m => m.Running);
        await Publish(new ScrapeFailed { RunId = RunId, ErrorCode = "SITE_DOWN", ErrorMessage = "503 from the site", ErrorDetail = "after 5 retries" });
    }

    [Fact]
    public async Task Should_fail_with_the_scrapers_error()
    {
        var run = await RunIn(m => m.Failed);
        Assert.Equal("SITE_DOWN", run.ErrorCode);
        Assert.Equal("503 from the site", run.ErrorMessage);
        Assert.Equal("after 5 retries", run.ErrorDetail);
        Assert.NotNull(run.FailedAt);
        Assert.True(await WasPublished<RunFailed>(m => m.RunId == RunId && m.ErrorCode == "SITE_DOWN" && m.Source == Source));
    }
}

public sealed class When_the_scraper_fails_before_anything_else : RunSagaHarness
{
    protected override Task Given() =>
        Publish(new ScrapeFailed { RunId = RunId, ErrorCode = "LOGIN_FAILED", ErrorMessage = "credentials rejected" });

    [Fact]
    public async Task Should_record_a_failed_run()
    {
        var run = await RunIn(m => m.Failed);
        Assert.Equal("LOGIN_FAILED", run.ErrorCode);
    }

    [Fact]
    public async Task Should_stay_failed_when_the_start_arrives_late()
    {
        await RunIn(m => m.Failed);
        await Publish(Started());
        Assert.True(await Consumed<RunStarted>());
        await Idle();
        await RunIn(m => m.Failed);
    }
}

public sealed class When_a_batch_is_rejected_whole : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Started());
        await RunIn(m => m.Running);
        await Publish(new BatchRejected { RunId = RunId, BatchId = "b7", ErrorCode = ErrorCodes.BatchTooLarge, ErrorMessage = "12000 items" });
    }

    [Fact]
    public async Task Should_fail_with_batch_too_large()
    {
        var run = await RunIn(m => m.Failed);
        Assert.Equal(ErrorCodes.BatchTooLarge, run.ErrorCode);
        Assert.Equal("batch b7", run.ErrorDetail);
    }
}

public sealed class When_the_run_deadline_passes : RunSagaHarness
{
    protected override TimeSpan RunTimeout => TimeSpan.FromMilliseconds(200);

    protected override async Task Given()
    {
        await Publish(Started());
        await RunIn(m => m.Running);
        Clock.Advance(RunTimeout * 2);
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "run" });
    }

    [Fact]
    public async Task Should_fail_with_run_timeout()
    {
        var run = await RunIn(m => m.Failed);
        Assert.Equal(ErrorCodes.RunTimeout, run.ErrorCode);
        Assert.True(await WasPublished<RunFailed>(m => m.RunId == RunId && m.ErrorCode == ErrorCodes.RunTimeout));
    }
}

public sealed class When_events_arrive_after_the_run_completed : RunSagaHarness
{
    protected override async Task Given()
    {
        await DriveToCompleted();
        await Publish(new ScrapeFailed { RunId = RunId, ErrorCode = "LATE", ErrorMessage = "late failure" });
        await Publish(new FlushFailed { RunId = RunId, ErrorCode = ErrorCodes.CountMismatch, ErrorMessage = "late" });
        await Publish(Completed(1, 1));
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "run" });
        await Publish(Flushed(10));
    }

    [Fact]
    public async Task Should_stay_completed_and_publish_nothing_more()
    {
        Assert.True(await Consumed<ScrapeFailed>());
        Assert.True(await Consumed<FlushConfirmed>());
        await Idle();
        var run = await RunIn(m => m.Completed);
        Assert.Null(run.ErrorCode);
        Assert.Equal(0, CountPublished<RunFailed>(m => m.RunId == RunId));
        Assert.Equal(1, CountSent<PromoteRun>(m => m.RunId == RunId));
        Assert.Equal(1, CountSent<FlushRun>(m => m.RunId == RunId));
    }

    [Fact]
    public async Task Should_still_answer_a_repeated_request_with_the_run()
    {
        var again = Guid.NewGuid();
        await Publish(Requested(runId: again));
        Assert.True(await WasPublished<RunAccepted>(m => m.RunId == again));
        await RunIn(m => m.Completed);
    }
}

public sealed class When_events_arrive_after_the_run_failed : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Started());
        await Publish(new ScrapeFailed { RunId = RunId, ErrorCode = "SITE_DOWN", ErrorMessage = "down" });
        await RunIn(m => m.Failed);
        await Publish(Completed(10, 1));
        await Publish(Flushed(10));
        await Publish(Upserted());
        await Publish(new LineageStamped { RunId = RunId });
    }

    [Fact]
    public async Task Should_stay_failed_with_the_first_error()
    {
        Assert.True(await Consumed<LineageStamped>());
        await Idle();
        var run = await RunIn(m => m.Failed);
        Assert.Equal("SITE_DOWN", run.ErrorCode);
        Assert.Equal(1, CountPublished<RunFailed>(m => m.RunId == RunId));
        Assert.Equal(0, CountSent<FlushRun>(m => m.RunId == RunId));
        Assert.Equal(0, CountSent<PromoteRun>(m => m.RunId == RunId));
        Assert.Equal(0, CountPublished<RunCompleted>(m => m.RunId == RunId));
    }
}

public sealed class When_events_arrive_for_a_run_that_does_not_exist : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Flushed(10));
        await Publish(Upserted());
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "run" });
    }

    [Fact]
    public async Task Should_drop_them_without_creating_a_run()
    {
        Assert.True(await Harness.Consumed.Any<FlushConfirmed>(x => x.Context.Message.RunId == RunId));
        await Idle();
        Assert.Empty(Saga.Sagas.Select(x => x.CorrelationId == RunId));
        Assert.False(await Harness.Published.Any<Fault<FlushConfirmed>>());
    }
}
