using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Options;
using RunSaga.Contracts;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;

namespace RunSaga.Orchestrator.Runs;

/// <summary>
/// The run lifecycle: <c>Queued → Running → Flushed → Completed</c>, or <c>Failed</c> (or <c>Cancelled</c>, by a
/// <c>CancelRun</c>) from any state that is not final. Three internal states map onto public statuses:
/// <c>AwaitingStart</c> (shown as Queued: a completion arrived for a run nobody has requested or started yet),
/// <c>Flushing</c> (shown as Running: the scrape is complete, the flush check waits for batches) and <c>Duplicate</c>
/// (shown as Cancelled: a run id whose idempotency key another run holds). Finished runs are kept: this table is the
/// run ledger. Events that mean nothing in the current state are logged and ignored.
/// <para>
/// Idempotency keys: <c>RunRequested</c> and <c>RunStarted</c> correlate by run id only; the first of them that
/// carries a key claims it for the run (<see cref="ClaimKey{T}"/> in RunActivities) unless another run of the source holds it, in
/// which case the run id ends as a duplicate before anything of it can be promoted, whatever the order of arrival.
/// The partial unique index on <c>runs.idempotency_key</c> settles two claims at once: the loser's transaction fails,
/// is retried, and then finds the holder.
/// </para>
/// </summary>
public sealed class RunStateMachine : MassTransitStateMachine<RunState>
{
    private readonly RunSagaOptions options;
    private readonly TimeProvider clock;
    private readonly ILogger<RunStateMachine> logger;

    public RunStateMachine(IOptions<RunSagaOptions> options, TimeProvider clock, ILogger<RunStateMachine> logger)
    {
        this.options = options.Value;
        this.clock = clock;
        this.logger = logger;

        InstanceState(x => x.CurrentState);

        Event(() => RunRequested, x => CreateOnFirstSight(x, m => m.RunId));
        Event(() => RunStarted, x => CreateOnFirstSight(x, m => m.RunId));
        Event(() => ScrapeCompleted, x => CreateOnFirstSight(x, m => m.RunId));
        Event(() => ScrapeFailed, x => CreateOnFirstSight(x, m => m.RunId));
        Event(() => BatchRejected, x => CreateOnFirstSight(x, m => m.RunId));
        Event(() => FlushConfirmed, x => ExistingOnly(x, m => m.RunId));
        Event(() => FlushFailed, x => ExistingOnly(x, m => m.RunId));
        Event(() => ProjectsUpserted, x => ExistingOnly(x, m => m.RunId));
        Event(() => LineageStamped, x => ExistingOnly(x, m => m.RunId));
        Event(() => PromotionFaulted, x => ExistingOnly(x, m => m.Message.RunId));
        Event(() => DeadlinePassed, x => ExistingOnly(x, m => m.RunId));
        Event(() => CancelRun, x => ExistingOnly(x, m => m.RunId));

        OnUnhandledEvent(IgnoreLateEvent);

        Initially(
            When(RunRequested)
                .Then(context => ApplyRequest(context.Saga, context.Message))
                .ClaimKey(m => m.IdempotencyKey)
                .IfElse(KeyRefused, EndsHere, claimed => claimed
                    .IfElse(KnownProcessType,
                        valid => valid
                            .TransitionTo(Queued)
                            .PublishAccepted()
                            .Then(context => Log(context.Saga, "Run requested by {RequestedBy} (attempt {Attempt})",
                                context.Saga.RequestedBy ?? "-", context.Saga.Attempt)),
                        invalid => invalid.RecordFailure(InvalidProcessType).TransitionTo(Failed).PublishRunFailed())),
            When(RunStarted)
                .Then(context => ApplyStart(context.Saga, context.Message))
                .ClaimKey(m => m.IdempotencyKey)
                .IfElse(KeyRefused, EndsHere, claimed => claimed
                    .IfElse(KnownProcessType,
                        valid => valid
                            .TransitionTo(Running)
                            .Then(context => Log(context.Saga, "Run started ({ProcessType})", context.Saga.ProcessType)),
                        invalid => invalid.RecordFailure(InvalidProcessType).TransitionTo(Failed).PublishRunFailed())),
            When(ScrapeCompleted)
                .Then(context => RecordCompletion(context.Saga, context.Message))
                .Then(context => context.Saga.FlushDeadline = Now + this.options.FlushTimeout)
                .Then(context => Log(context.Saga, "Scrape completed for a run nobody has requested or started yet; waiting {Timeout} for it", this.options.FlushTimeout))
                .TransitionTo(AwaitingStart),
            When(ScrapeFailed).RecordFailure(ScraperError).TransitionTo(Failed).PublishRunFailed(),
            When(BatchRejected).RecordFailure(Rejected).TransitionTo(Failed).PublishRunFailed());

        During(AwaitingStart,
            When(RunRequested)
                .Then(context => ApplyRequest(context.Saga, context.Message))
                .ClaimKey(m => m.IdempotencyKey)
                .IfElse(KeyRefused, EndsHere, claimed => RequestFlush(claimed.PublishAccepted())),
            When(RunStarted)
                .Then(context => ApplyStart(context.Saga, context.Message))
                .ClaimKey(m => m.IdempotencyKey)
                .IfElse(KeyRefused, EndsHere, RequestFlush),
            When(ScrapeFailed).RecordFailure(ScraperError).TransitionTo(Failed).PublishRunFailed(),
            When(BatchRejected).RecordFailure(Rejected).TransitionTo(Failed).PublishRunFailed(),
            When(DeadlinePassed, FlushTimeoutDue)
                .IfElse(StagingWasBehind,
                    behind => behind.Then(context => PostponeFlushVerdict(context.Saga, context.Message.HoldReason!)),
                    neverIdentified => neverIdentified
                        .RecordFailure(_ => new RunError(ErrorCodes.RunNeverIdentified,
                            $"No RunRequested or RunStarted named this run within {this.options.FlushTimeout}; "
                            + "the scraper must publish one of them (with the source) for the run to proceed."))
                        .TransitionTo(Failed)
                        .PublishRunFailed()));

        During(Queued,
            When(RunStarted)
                .Then(context => ApplyStart(context.Saga, context.Message))
                .ClaimKey(m => m.IdempotencyKey)
                .IfElse(KeyRefused, EndsHere, claimed => claimed
                    .TransitionTo(Running)
                    .Then(context => Log(context.Saga, "Run started ({ProcessType})", context.Saga.ProcessType))));

        During(AwaitingStart, Queued, Running, Flushing,
            When(CancelRun)
                .Then(context => context.Saga.CancelledBy = context.Message.RequestedBy ?? "an unnamed sender")
                .RecordFailure(Cancellation)
                .TransitionTo(Cancelled)
                .PublishRunFailed());

        During(Queued, Running,
            When(RunRequested)
                .Then(context => ApplyRepeatedRequest(context, processTypeMayChange: true))
                .ClaimKey(m => m.IdempotencyKey)
                .IfElse(KeyRefused, EndsHere, claimed => claimed.PublishAccepted()),
            When(ScrapeCompleted)
                .Then(context => RecordCompletion(context.Saga, context.Message))
                .StartFlush()
                .SendFlushRun()
                .TransitionTo(Flushing)
                .Then(LogFlushRequested),
            When(ScrapeFailed).RecordFailure(ScraperError).TransitionTo(Failed).PublishRunFailed(),
            When(BatchRejected).RecordFailure(Rejected).TransitionTo(Failed).PublishRunFailed(),
            When(DeadlinePassed, RunTimeoutDue).RecordFailure(RunTimedOut).TransitionTo(Failed).PublishRunFailed());

        During(Flushing,
            When(RunRequested)
                .Then(context => ApplyRepeatedRequest(context, processTypeMayChange: true))
                .ClaimKey(m => m.IdempotencyKey)
                .IfElse(KeyRefused, EndsHere, claimed => claimed.PublishAccepted()),
            When(FlushConfirmed, context => ProcessType.IsFull(context.Saga.ProcessType) && context.Message.StagedItems == 0)
                .Then(context => RecordFlush(context.Saga, context.Message))
                .RecordFailure(_ => new RunError(ErrorCodes.NoItems,
                    "A full run flushed zero items; promoting it could look like every item was removed. "
                    + "Check the scraper's output; use process type 'sync' for runs that may legitimately be empty."))
                .TransitionTo(Failed)
                .PublishRunFailed(),
            When(FlushConfirmed, context => !(ProcessType.IsFull(context.Saga.ProcessType) && context.Message.StagedItems == 0))
                .Then(context => RecordFlush(context.Saga, context.Message))
                .Then(context => RunMetrics.Start(context.Saga, RunMetrics.Promotion, Now))
                .TransitionTo(Flushed)
                .ResendLater()
                .SendPromoteRun()
                .Then(context => Log(context.Saga, "Flushed: {StagedItems} items in {StagedBatches} batches staged; promoting",
                    context.Saga.StagedItems, context.Saga.StagedBatches)),
            When(FlushFailed)
                .RecordFailure(context => new RunError(context.Message.ErrorCode, context.Message.ErrorMessage))
                .TransitionTo(Failed)
                .PublishRunFailed(),
            When(ScrapeFailed).RecordFailure(ScraperError).TransitionTo(Failed).PublishRunFailed(),
            When(BatchRejected).RecordFailure(Rejected).TransitionTo(Failed).PublishRunFailed(),
            When(DeadlinePassed, RunTimeoutDue).RecordFailure(RunTimedOut).TransitionTo(Failed).PublishRunFailed(),
            When(DeadlinePassed, FlushTimeoutDue)
                .IfElse(StagingWasBehind,
                    behind => behind.Then(context => PostponeFlushVerdict(context.Saga, context.Message.HoldReason!)),
                    incomplete => incomplete
                        .RecordFailure(FlushIncomplete)
                        .TransitionTo(Failed)
                        .PublishRunFailed()
                        .PublishViaOutbox(context => new FlushFailed
                        {
                            RunId = context.Saga.CorrelationId,
                            ErrorCode = ErrorCodes.FlushIncomplete,
                            ErrorMessage = context.Saga.ErrorMessage!,
                        })),
            When(DeadlinePassed, ResendIsDue)
                .ResendLater()
                .SendFlushRun()
                .Then(context => Log(context.Saga, "No flush verdict yet; FlushRun sent again")));

        During(Flushed,
            When(RunRequested)
                .Then(context => ApplyRepeatedRequest(context, processTypeMayChange: false))
                .ClaimKey(m => m.IdempotencyKey, mayEndRun: false)
                .PublishAccepted(),
            When(CancelRun)
                .ThenAsync(async context => context.Saga.PromotionCommitted = await context.GetServiceOrCreateInstance<IRunLedger>()
                    .HoldPromotionsAndCheckAsync(context.Saga.CorrelationId, context.Saga.Source!, context.CancellationToken))
                .IfElse(context => context.Saga.PromotionCommitted,
                    committed => committed.Then(context => LogRefusedCancel(context.Saga, "its promotion has committed; it completes")),
                    notYet => notYet
                        .Then(context => context.Saga.CancelledBy = context.Message.RequestedBy ?? "an unnamed sender")
                        .RecordFailure(Cancellation)
                        .TransitionTo(Cancelled)
                        .PublishRunFailed()),
            When(ProjectsUpserted, context => context.Saga.Inserted is null && context.Message.LineageRecorded)
                .Then(context => RecordPromotion(context.Saga, context.Message))
                .Then(context => Complete(context.Saga))
                .TransitionTo(Completed)
                .PublishViaOutbox(context => Completion(context.Saga))
                .Then(LogCompleted),
            When(ProjectsUpserted, context => context.Saga.Inserted is null && !context.Message.LineageRecorded)
                .Then(context => RecordPromotion(context.Saga, context.Message))
                .ResendLater()
                .SendStampLineage(),
            When(DeadlinePassed, ResendIsDue)
                .ResendLater()
                .IfElse(context => context.Saga.Inserted is null,
                    promotion => promotion
                        .SendPromoteRun()
                        .Then(context => Log(context.Saga, "No promotion result yet; PromoteRun sent again")),
                    lineage => lineage
                        .SendStampLineage()
                        .Then(context => Log(context.Saga, "No lineage result yet; StampLineage sent again"))),
            When(LineageStamped, context => context.Saga.Inserted is not null)
                .Then(context => Complete(context.Saga))
                .TransitionTo(Completed)
                .PublishViaOutbox(context => Completion(context.Saga))
                .Then(LogCompleted),
            When(PromotionFaulted)
                .RecordFailure(context => new RunError(ErrorCodes.PromotionFailed,
                    "Promoting the run's items failed and was rolled back; projects is unchanged. "
                    + "See the promotion fault in the runsaga.promotion_error queue and the Consumers log.",
                    FaultDetail(context.Message)))
                .TransitionTo(Failed)
                .PublishRunFailed());

        // A late request of the run's own (it lost the creation race and was retried meanwhile) still records its key
        // and request data: a completed run that lost its key would let a retry scrape again.
        During(Completed, Failed,
            When(RunRequested)
                .Then(context => ApplyRepeatedRequest(context, processTypeMayChange: false))
                .ClaimKey(m => m.IdempotencyKey, mayEndRun: false)
                .PublishAccepted());

        During(Cancelled, Duplicate,
            When(RunRequested).PublishAccepted());

        During(Completed, Failed, Cancelled, Duplicate,
            When(CancelRun).Then(context => LogRefusedCancel(context.Saga, $"it already ended {context.Saga.Status}")));
    }

    public State AwaitingStart { get; } = null!;
    public State Queued { get; } = null!;
    public State Running { get; } = null!;
    public State Flushing { get; } = null!;
    public State Flushed { get; } = null!;
    public State Completed { get; } = null!;
    public State Failed { get; } = null!;
    public State Cancelled { get; } = null!;
    public State Duplicate { get; } = null!;

    public Event<RunRequested> RunRequested { get; } = null!;
    public Event<RunStarted> RunStarted { get; } = null!;
    public Event<ScrapeCompleted> ScrapeCompleted { get; } = null!;
    public Event<ScrapeFailed> ScrapeFailed { get; } = null!;
    public Event<BatchRejected> BatchRejected { get; } = null!;
    public Event<FlushConfirmed> FlushConfirmed { get; } = null!;
    public Event<FlushFailed> FlushFailed { get; } = null!;
    public Event<ProjectsUpserted> ProjectsUpserted { get; } = null!;
    public Event<LineageStamped> LineageStamped { get; } = null!;
    public Event<Fault<PromoteRun>> PromotionFaulted { get; } = null!;
    public Event<RunDeadlinePassed> DeadlinePassed { get; } = null!;
    public Event<CancelRun> CancelRun { get; } = null!;

    /// <summary>The time as the saga sees it: from the injected <see cref="TimeProvider"/>, so specs move it.</summary>
    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    /// <summary>Events that start a run if it is not known yet: inserted with ON CONFLICT DO NOTHING.</summary>
    private static void CreateOnFirstSight<T>(IEventCorrelationConfigurator<RunState, T> x, Func<T, Guid> runId)
        where T : class
    {
        x.CorrelateById(context => runId(context.Message));
        x.InsertOnInitial = true;
    }

    /// <summary>Events RunSaga itself produces for an existing run; for an unknown run they are dropped and logged.</summary>
    private void ExistingOnly<T>(IEventCorrelationConfigurator<RunState, T> x, Func<T, Guid> runId)
        where T : class
    {
        x.CorrelateById(context => runId(context.Message));
        x.OnMissingInstance(missing => missing.Execute(context =>
        {
            using var scope = RunLogScope.Begin(runId(context.Message), null);
            logger.LogWarning("Dropped {MessageType} for a run that does not exist", typeof(T).Name);
        }));
    }

    private Task IgnoreLateEvent(UnhandledEventContext<RunState> context)
    {
        using var scope = RunLogScope.Begin(context.Saga.CorrelationId, context.Saga.Source);
        logger.LogInformation("Ignored {Event} in state {State}: it changes nothing now", context.Event.Name, context.CurrentState.Name);
        // Late: the run has ended, or moved past the step this event belongs to; otherwise it means nothing here.
        context.Saga.HistoryOutcome = context.Saga.CurrentState is nameof(Completed) or nameof(Failed) or nameof(Cancelled) or nameof(Duplicate)
            || context.Saga.FlushedAt is not null ? "late" : "ignored";
        return context.Ignore();
    }

    private void Log(RunState run, string template, params object?[] values)
    {
        using var scope = RunLogScope.Begin(run.CorrelationId, run.Source);
        logger.LogInformation(template, values);
    }

    /// <summary>
    /// The run's request when the run already exists: a repeat changes nothing; the request arriving late (after
    /// RunStarted or ScrapeCompleted won the race) fills in what the run lacks, so the result does not depend on the order
    /// of arrival (its key is claimed separately, see <see cref="ClaimKey{T}"/>). Its process type counts until the run is
    /// flushed; from then on the run is promoted as the type it was flushed with.
    /// </summary>
    private void ApplyRepeatedRequest(BehaviorContext<RunState, RunRequested> context, bool processTypeMayChange)
    {
        if (context.Saga.RequestedAt is not null)
        {
            return;
        }

        var processType = context.Saga.ProcessType;
        ApplyRequest(context.Saga, context.Message);
        if (!processTypeMayChange || !ProcessType.IsKnown(context.Saga.ProcessType))
        {
            context.Saga.ProcessType = processType;
        }

        Log(context.Saga, "Run request recorded after the run had started ({ProcessType})", context.Saga.ProcessType);
    }

    private void ApplyRequest(RunState run, RunRequested message)
    {
        if (RequestLimits.Problem(message) is { } problem)
        {
            run.RequestProblem = $"RunRequested refused: {problem}. Nothing of the request was recorded.";
            return;
        }

        var now = Now;
        run.Source ??= message.Source;
        run.ProcessType = message.ProcessType ?? run.ProcessType;
        run.InputVersion ??= message.InputVersion;
        run.PipelineVersion ??= message.PipelineVersion;
        run.RequestedBy ??= message.RequestedBy;
        run.RequestedAt ??= now;
        if (message.Metadata is { Count: > 0 })
        {
            run.Metadata = JsonSerializer.Serialize(message.Metadata);
        }
    }

    private void ApplyStart(RunState run, RunStarted message)
    {
        if (RequestLimits.Problem(message) is { } problem)
        {
            run.RequestProblem = $"RunStarted refused: {problem}. Nothing of the start was recorded.";
            return;
        }

        run.Source ??= message.Source;
        if (message.ProcessType is not null && run.RequestedAt is null)
        {
            run.ProcessType = message.ProcessType;
        }

        RunRecord.MarkStarted(run, Now, options.RunTimeout);
    }

    private void RecordCompletion(RunState run, ScrapeCompleted message)
    {
        run.ExpectedItems = message.TotalItems;
        run.ExpectedBatches = message.TotalBatches;
    }

    private void RecordFlush(RunState run, FlushConfirmed message)
    {
        var now = Now;
        run.FlushedAt = now;
        run.FlushDeadline = null;
        run.RunDeadline = null;
        run.StagedItems = message.StagedItems;
        run.StagedBatches = message.StagedBatches;
        run.RejectedItems = message.RejectedItems;
        run.BatchIds = [.. message.BatchIds];
        RunMetrics.Succeed(run, RunMetrics.Flush, now, new
        {
            StagedItems = message.StagedItems,
            StagedBatches = message.StagedBatches,
            RejectedItems = message.RejectedItems,
            DuplicateItems = message.DuplicateItems,
            Rejections = message.Rejections.Select(r => new { batch_id = r.BatchId, key = r.Key, reason = r.Reason }),
        });
    }

    private void RecordPromotion(RunState run, ProjectsUpserted message)
    {
        var now = Now;
        run.Inserted = message.Inserted;
        run.Updated = message.Updated;
        run.Unchanged = message.Unchanged;
        run.Errored = message.Errored;
        RunMetrics.Succeed(run, RunMetrics.Promotion, now, new
        {
            message.Inserted,
            message.Updated,
            message.Unchanged,
            message.Errored,
        });
        RunMetrics.Start(run, RunMetrics.Lineage, now);
    }

    private void Complete(RunState run)
    {
        var now = Now;
        run.CompletedAt = now;
        run.ResendAt = null;
        RunMetrics.Succeed(run, RunMetrics.Lineage, now);
    }

    /// <summary>
    /// FLUSH_TIMEOUT has passed, but the pipeline was behind lately (the deadline watcher says why): the missing
    /// batches may still wait in <c>runsaga.staging</c>. The verdict moves on by STAGING_SETTLE; RUN_TIMEOUT still bounds the run.
    /// </summary>
    private void PostponeFlushVerdict(RunState run, string reason)
    {
        var postpone = options.StagingSettle > options.DeadlinePollInterval ? options.StagingSettle : options.DeadlinePollInterval;
        run.FlushDeadline = Now + postpone;
        run.HistoryNote = $"flush verdict held until {run.FlushDeadline:HH:mm:ss} UTC";
        using var scope = RunLogScope.Begin(run.CorrelationId, run.Source);
        logger.LogWarning(
            "FLUSH_TIMEOUT passed before all {ExpectedBatches} batches were staged, but the pipeline was behind: {HoldReason}. "
            + "The flush verdict waits until {FlushDeadline:O}",
            run.ExpectedBatches, reason, run.FlushDeadline);
    }

    /// <summary>The run's deadlines, in the order they win when more than one has passed.</summary>
    private enum Deadline { None, Run, Flush, Resend }

    /// <summary>
    /// Which of the run's own deadlines has passed, by its row and the saga's clock (a <c>RunDeadlinePassed</c> may be
    /// stale or repeated; it only says "look"): RUN_TIMEOUT first, then FLUSH_TIMEOUT, then a resend.
    /// </summary>
    private Deadline Due(RunState run) =>
        run.RunDeadline <= Now ? Deadline.Run
        : run.FlushDeadline <= Now ? Deadline.Flush
        : run.ResendAt <= Now ? Deadline.Resend
        : Deadline.None;

    private bool RunTimeoutDue(BehaviorContext<RunState, RunDeadlinePassed> context) => Due(context.Saga) == Deadline.Run;

    private bool FlushTimeoutDue(BehaviorContext<RunState, RunDeadlinePassed> context) => Due(context.Saga) == Deadline.Flush;

    private bool ResendIsDue(BehaviorContext<RunState, RunDeadlinePassed> context) => Due(context.Saga) == Deadline.Resend;

    /// <summary>The deadline watcher saw staging behind lately: a flush verdict waits (see <see cref="PostponeFlushVerdict"/>).</summary>
    private static bool StagingWasBehind(BehaviorContext<RunState, RunDeadlinePassed> context) => context.Message.HoldReason is not null;

    /// <summary>The request, the start or its idempotency key was refused (<see cref="ClaimKey{T}"/> in RunActivities): the run id goes no further.</summary>
    private static bool KeyRefused<T>(BehaviorContext<RunState, T> context)
        where T : class => RunRecord.KeyRefused(context.Saga);

    private static bool KnownProcessType<T>(BehaviorContext<RunState, T> context)
        where T : class => ProcessType.IsKnown(context.Saga.ProcessType);

    /// <summary>
    /// Where a refused request, start or key leaves the run id: a duplicate of the key's holder ends Duplicate (the answer
    /// is a RunAccepted naming the holder; no RunFailed, a scheduler that retries on failure would only ask again); a
    /// request beyond <see cref="RequestLimits"/> or a key another source holds fails the run.
    /// </summary>
    private EventActivityBinder<RunState, T> EndsHere<T>(EventActivityBinder<RunState, T> refused)
        where T : class =>
        refused.IfElse(context => context.Saga.DuplicateOf is not null,
            duplicate => duplicate
                .RecordDuplicate()
                .TransitionTo(Duplicate)
                .PublishAccepted()
                .Then(context => Log(context.Saga, "Duplicate of run {DuplicateOf} (idempotency key {IdempotencyKey}); this run id ends here",
                    context.Saga.DuplicateOf, context.Saga.IdempotencyKey)),
            failed => failed
                .RecordFailure(context => RunRecord.Refusal(context.Saga))
                .TransitionTo(Failed)
                .PublishRunFailed());

    /// <summary>A run whose scrape completed before it was known is known now: the flush is requested.</summary>
    private EventActivityBinder<RunState, T> RequestFlush<T>(EventActivityBinder<RunState, T> known)
        where T : class =>
        known
            .StartFlush()
            .SendFlushRun()
            .TransitionTo(Flushing)
            .Then(LogFlushRequested);

    private void LogFlushRequested<T>(BehaviorContext<RunState, T> context)
        where T : class =>
        Log(context.Saga, "Scrape completed: {ExpectedItems} items in {ExpectedBatches} batches announced; flush requested",
            context.Saga.ExpectedItems, context.Saga.ExpectedBatches);

    private static RunCompleted Completion(RunState run) => new()
    {
        RunId = run.CorrelationId,
        Source = run.Source!,
        Inserted = run.Inserted ?? 0,
        Updated = run.Updated ?? 0,
        Unchanged = run.Unchanged ?? 0,
        Errored = run.Errored ?? 0,
    };

    private void LogCompleted<T>(BehaviorContext<RunState, T> context)
        where T : class =>
        Log(context.Saga, "Completed: {Inserted} inserted, {Updated} updated, {Unchanged} unchanged, {Errored} errored",
            context.Saga.Inserted, context.Saga.Updated, context.Saga.Unchanged, context.Saga.Errored);

    private static RunError Cancellation(BehaviorContext<RunState, CancelRun> context) =>
        new(ErrorCodes.Cancelled, $"Cancelled by {context.Saga.CancelledBy}: {context.Message.Reason ?? "no reason given"}");

    private void LogRefusedCancel(RunState run, string why)
    {
        run.HistoryNote = $"cancel refused: {why}";
        using var scope = RunLogScope.Begin(run.CorrelationId, run.Source);
        logger.LogWarning("CancelRun refused: {Why}", why);
    }

    private static string FaultDetail(Fault fault) =>
        string.Join(Environment.NewLine, (fault.Exceptions ?? []).OfType<ExceptionInfo>().Select(e => $"{e.ExceptionType}: {e.Message}"));

    private static RunError InvalidProcessType<T>(BehaviorContext<RunState, T> context)
        where T : class =>
        new(ErrorCodes.InvalidProcessType,
            $"Unknown process type '{context.Saga.ProcessType}'; use one of ingestion, sync, manual_reindex.");

    private static RunError ScraperError(BehaviorContext<RunState, ScrapeFailed> context) => RequestLimits.ScraperFailure(context.Message);

    private static RunError Rejected(BehaviorContext<RunState, BatchRejected> context) =>
        new(context.Message.ErrorCode, context.Message.ErrorMessage, $"batch {context.Message.BatchId}");

    private RunError RunTimedOut(BehaviorContext<RunState, RunDeadlinePassed> context) =>
        new(ErrorCodes.RunTimeout,
            $"The run did not reach Flushed within RUN_TIMEOUT ({options.RunTimeout}); it was {context.Saga.Status}.");

    private RunError FlushIncomplete(BehaviorContext<RunState, RunDeadlinePassed> context) =>
        new(ErrorCodes.FlushIncomplete,
            $"Not every announced batch was staged within FLUSH_TIMEOUT ({options.FlushTimeout}); expected "
            + $"{context.Saga.ExpectedBatches} batches with {context.Saga.ExpectedItems} items. "
            + "Check that the scraper published every batch (and declared the exchanges before publishing).");
}
