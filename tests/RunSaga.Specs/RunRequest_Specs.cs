using RunSaga.Contracts;
using RunSaga.Orchestrator.Runs;
using RunSaga.Shared.Data;

namespace RunSaga.Specs;

public sealed class When_a_run_is_requested : RunSagaHarness
{
    protected override Task Given() => Publish(Requested(key: $"{Source}:v1:p1"));

    [Fact]
    public async Task Should_be_queued_with_the_request_recorded()
    {
        var run = await RunIn(m => m.Queued);
        Assert.Equal(RunStatus.Queued, run.Status);
        Assert.Equal(Source, run.Source);
        Assert.Equal(ProcessType.Ingestion, run.ProcessType);
        Assert.Equal("specs", run.RequestedBy);
        Assert.NotNull(run.RequestedAt);
    }

    [Fact]
    public async Task Should_publish_run_accepted_without_a_duplicate()
    {
        Assert.True(await WasPublished<RunAccepted>(m => m.RunId == RunId && m.DuplicateOf == null && m.Source == Source));
    }
}

public sealed class When_a_request_repeats_a_known_idempotency_key : RunSagaHarness
{
    private readonly Guid secondRunId = Guid.NewGuid();
    private string Key => $"{Source}:v1:p1";

    protected override async Task Given()
    {
        await Publish(Requested(key: Key));
        await RunIn(m => m.Queued);
        await Publish(Requested(key: Key, runId: secondRunId));
    }

    [Fact]
    public async Task Should_answer_with_the_existing_run()
    {
        Assert.True(await WasPublished<RunAccepted>(m => m.RunId == secondRunId && m.DuplicateOf == RunId));
    }

    [Fact]
    public async Task Should_end_the_second_run_id_as_a_duplicate_that_never_runs()
    {
        var duplicate = await RunIn(m => m.Duplicate, secondRunId);
        Assert.Equal((RunStatus.Cancelled, ErrorCodes.DuplicateRun, RunId), (duplicate.Status, duplicate.ErrorCode, duplicate.DuplicateOf));
        Assert.Single(Saga.Sagas.Select(x => x.IdempotencyKey == Key && !RunStatus.EndedUnfinished(x.Status)));

        // The scraper starts it anyway, as docs/wire-format.md's checklist says: it stays a duplicate, nothing is flushed.
        await Publish(Started(runId: secondRunId));
        await Publish(new ScrapeCompleted { RunId = secondRunId, TotalItems = 1, TotalBatches = 1 });
        Assert.True(await Consumed<ScrapeCompleted>(secondRunId));
        await Idle();
        await RunIn(m => m.Duplicate, secondRunId);
        Assert.False(await WasSent<FlushRun>(m => m.RunId == secondRunId));
        Assert.False(await WasPublished<RunFailed>(m => m.RunId == secondRunId));
    }
}

public sealed class When_a_run_starts_with_a_held_key_before_its_request : RunSagaHarness
{
    private readonly Guid secondRunId = Guid.NewGuid();
    private string Key => $"{Source}:v1:p1";

    protected override async Task Given()
    {
        await Publish(Requested(key: Key));
        await RunIn(m => m.Queued);
        await Publish(Started(key: Key, runId: secondRunId));
    }

    [Fact]
    public async Task Should_end_as_a_duplicate_and_answer_the_late_request_with_the_holder()
    {
        await RunIn(m => m.Duplicate, secondRunId);
        await Publish(Requested(key: Key, runId: secondRunId));
        Assert.True(await Consumed<RunRequested>(secondRunId));
        Assert.Equal(2, await Task.Run(async () =>
        {
            await Idle();
            return CountPublished<RunAccepted>(m => m.RunId == secondRunId && m.DuplicateOf == RunId);
        }));
    }
}

public sealed class When_a_failed_runs_key_is_requested_again : RunSagaHarness
{
    private readonly Guid retryId = Guid.NewGuid();
    private string Key => $"{Source}:v1:p1";

    protected override async Task Given()
    {
        await Publish(Requested(key: Key));
        await Publish(new ScrapeFailed { RunId = RunId, ErrorCode = "BLOCKED", ErrorMessage = "site blocked us" });
        await RunIn(m => m.Failed);
        await Publish(Requested(key: Key, runId: retryId));
    }

    [Fact]
    public async Task Should_make_a_new_attempt_linked_to_the_failed_run()
    {
        var retry = await RunIn(m => m.Queued, retryId);
        Assert.Equal((Key, 2, (Guid?)RunId, (Guid?)null), (retry.IdempotencyKey, retry.Attempt, retry.RetryOf, retry.DuplicateOf));
        Assert.True(await WasPublished<RunAccepted>(m => m.RunId == retryId && m.DuplicateOf == null && m.RetryOf == RunId && m.Attempt == 2));
    }
}

public sealed class When_a_key_is_held_by_another_sources_run : RunSagaHarness
{
    private readonly Guid otherRunId = Guid.NewGuid();
    private string Key => $"{Source}:v1:p1";

    protected override async Task Given()
    {
        await Publish(Requested(key: Key));
        await RunIn(m => m.Queued);
        await Publish(Requested(key: Key, runId: otherRunId) with { Source = "another-source" });
    }

    [Fact]
    public async Task Should_fail_the_request_with_a_key_conflict()
    {
        var other = await RunIn(m => m.Failed, otherRunId);
        Assert.Equal(ErrorCodes.IdempotencyKeyConflict, other.ErrorCode);
        Assert.Null(other.IdempotencyKey);
        Assert.True(await WasPublished<RunFailed>(m => m.RunId == otherRunId && m.ErrorCode == ErrorCodes.IdempotencyKeyConflict));
    }
}

public sealed class When_the_request_reaches_a_run_that_already_failed : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Started());
        await Publish(new ScrapeFailed { RunId = RunId, ErrorCode = "BLOCKED", ErrorMessage = "site blocked us" });
        await RunIn(m => m.Failed);
        await Publish(Requested(key: $"{Source}:v1:p1"));
    }

    [Fact]
    public async Task Should_record_its_key_and_request()
    {
        Assert.True(await Consumed<RunRequested>());
        await Idle();
        var run = await RunIn(m => m.Failed);
        Assert.Equal(($"{Source}:v1:p1", "specs"), (run.IdempotencyKey, run.RequestedBy));
    }
}

public sealed class When_the_same_request_is_delivered_twice : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Requested());
        await RunIn(m => m.Queued);
        await Publish(Requested());
    }

    [Fact]
    public async Task Should_keep_one_queued_run_and_answer_again()
    {
        await RunIn(m => m.Queued);
        Assert.True(await WasPublished<RunAccepted>(m => m.RunId == RunId));
        Assert.Single(Saga.Sagas.Select(x => x.CorrelationId == RunId));
    }
}

public sealed class When_a_run_names_an_unknown_process_type : RunSagaHarness
{
    protected override Task Given() => Publish(Requested(processType: "weekly"));

    [Fact]
    public async Task Should_fail_with_invalid_process_type()
    {
        var run = await RunIn(m => m.Failed);
        Assert.Equal(ErrorCodes.InvalidProcessType, run.ErrorCode);
        Assert.True(await WasPublished<RunFailed>(m => m.RunId == RunId && m.ErrorCode == ErrorCodes.InvalidProcessType));
    }
}

public sealed class When_a_requested_run_starts : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Requested(processType: ProcessType.Sync));
        await RunIn(m => m.Queued);
        await Publish(Started());
    }

    [Fact]
    public async Task Should_be_running_with_a_folder_name_and_a_run_deadline()
    {
        var run = await RunIn(m => m.Running);
        Assert.Equal(RunStatus.Running, run.Status);
        Assert.Equal(ProcessType.Sync, run.ProcessType);
        Assert.NotNull(run.StartedAt);
        Assert.Matches($"^[0-9]{{8}}_[0-9]{{6}}_{RunId}$", run.FolderName);
        Assert.NotNull(run.RunDeadline);
    }
}

public sealed class When_a_run_starts_without_a_request : RunSagaHarness
{
    protected override Task Given() => Publish(Started(ProcessType.ManualReindex));

    [Fact]
    public async Task Should_create_the_run_in_running()
    {
        var run = await RunIn(m => m.Running);
        Assert.Equal(Source, run.Source);
        Assert.Equal(ProcessType.ManualReindex, run.ProcessType);
    }
}

public sealed class When_the_request_arrives_after_the_scrape_completed : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Started());
        await Publish(Completed(10, 1));
        await RunIn(m => m.Flushing);
        await Publish(Requested(processType: ProcessType.Sync, key: $"{Source}:v2:p1") with
        {
            InputVersion = "v2",
            Metadata = new Dictionary<string, string> { ["region"] = "eu" },
        });
    }

    [Fact]
    public async Task Should_record_the_request_as_if_it_had_come_first()
    {
        Assert.True(await Consumed<RunRequested>());
        await Idle();
        var run = await RunIn(m => m.Flushing);
        Assert.Equal("specs", run.RequestedBy);
        Assert.NotNull(run.RequestedAt);
        Assert.Equal($"{Source}:v2:p1", run.IdempotencyKey);
        Assert.Equal("v2", run.InputVersion);
        Assert.Equal(ProcessType.Sync, run.ProcessType);
        Assert.Contains("\"region\":\"eu\"", run.Metadata, StringComparison.Ordinal);
        Assert.True(await WasPublished<RunAccepted>(m => m.RunId == RunId && m.DuplicateOf == null));
    }
}

public sealed class When_the_request_arrives_after_the_run_was_flushed : RunSagaHarness
{
    protected override async Task Given()
    {
        await Publish(Started(ProcessType.Ingestion));
        await Publish(Completed(10, 1));
        await RunIn(m => m.Flushing);
        await Publish(Flushed(10));
        await RunIn(m => m.Flushed);
        await Publish(Requested(processType: ProcessType.Sync) with { RequestedBy = "late-requester" });
    }

    [Fact]
    public async Task Should_fill_in_the_request_but_keep_the_process_type_being_promoted()
    {
        Assert.True(await Consumed<RunRequested>());
        await Idle();
        var run = await RunIn(m => m.Flushed);
        Assert.Equal("late-requester", run.RequestedBy);
        Assert.Equal(ProcessType.Ingestion, run.ProcessType);
    }
}
