using MassTransit;
using RunSaga.Contracts;
using RunSaga.Shared.Data;
using RunSaga.Shared.Messaging;

namespace RunSaga.Orchestrator.Runs;

/// <summary>Why a run failed.</summary>
public readonly record struct RunError(string Code, string Message, string? Detail = null);

/// <summary>The steps the run saga repeats in several states, named.</summary>
internal static class RunActivities
{
    /// <summary>Records the error, marks the running step failed, moves to Failed and publishes RunFailed.</summary>
    public static EventActivityBinder<RunState, T> FailRun<T>(
        this EventActivityBinder<RunState, T> binder, RunStateMachine machine, Func<BehaviorContext<RunState, T>, RunError> error)
        where T : class =>
        binder
            .Then(context =>
            {
                End(context.Saga, error(context), machine.Now);
                machine.LogFailure(context.Saga);
            })
            .TransitionTo(machine.Failed)
            .PublishRunFailed();

    /// <summary>
    /// An operator's <see cref="CancelRun"/>: ends the run Cancelled (CANCELLED, the reason and who asked recorded) and
    /// publishes RunFailed with that code, as a failure would; nothing of the run is promoted after this.
    /// </summary>
    public static EventActivityBinder<RunState, CancelRun> CancelRun(this EventActivityBinder<RunState, CancelRun> binder, RunStateMachine machine) =>
        binder
            .Then(context =>
            {
                var requestedBy = context.Message.RequestedBy ?? "an unnamed sender";
                End(context.Saga, new RunError(ErrorCodes.Cancelled,
                    $"Cancelled by {requestedBy}: {context.Message.Reason ?? "no reason given"}"), machine.Now);
                context.Saga.CancelledBy = requestedBy;
                machine.LogFailure(context.Saga);
            })
            .TransitionTo(machine.Cancelled)
            .PublishRunFailed();

    /// <summary>
    /// The run id's idempotency key is held by <see cref="RunState.DuplicateOf"/>: this run id ends (Cancelled,
    /// DUPLICATE_RUN) before anything of it is promoted, and the answer is a RunAccepted naming the holder. No RunFailed:
    /// a scheduler that retries on failure would only ask again.
    /// </summary>
    public static EventActivityBinder<RunState, T> EndAsDuplicate<T>(this EventActivityBinder<RunState, T> binder, RunStateMachine machine)
        where T : class =>
        binder
            .Then(context => End(context.Saga, new RunError(ErrorCodes.DuplicateRun,
                $"The idempotency key '{context.Saga.IdempotencyKey}' is held by run {context.Saga.DuplicateOf}; this run id was "
                + "not run and takes no batches. Follow that run, or retry the key with a new run id once it failed or was cancelled."), machine.Now))
            .TransitionTo(machine.Duplicate)
            .PublishViaOutbox(context => machine.Accepted(context.Saga))
            .Then(context => machine.Log(context.Saga, "Duplicate of run {DuplicateOf} (idempotency key {IdempotencyKey}); this run id ends here",
                context.Saga.DuplicateOf, context.Saga.IdempotencyKey));

    /// <summary>
    /// Claims the message's idempotency key for the run (<see cref="RunStateMachine.ClaimKey{T}"/>), then goes on with
    /// <paramref name="claimed"/> unless the request or start was beyond <see cref="RequestLimits"/> (the run fails with
    /// INVALID_REQUEST), the key made the run a duplicate (it ends here) or conflicts with another source's run (it fails).
    /// </summary>
    public static EventActivityBinder<RunState, T> ClaimingKey<T>(
        this EventActivityBinder<RunState, T> binder,
        RunStateMachine machine,
        Func<T, string?> key,
        Func<EventActivityBinder<RunState, T>, EventActivityBinder<RunState, T>> claimed)
        where T : class =>
        binder.IfElse(context => context.Saga.RequestProblem is not null,
            invalid => invalid.FailRun(machine, context => new RunError(ErrorCodes.InvalidRequest, context.Saga.RequestProblem!)),
            valid => valid
            .ThenAsync(context => machine.ClaimKey(context, key(context.Message)))
            .IfElse(context => context.Saga.KeyConflict is not null,
                conflict => conflict.FailRun(machine, context => new RunError(ErrorCodes.IdempotencyKeyConflict, context.Saga.KeyConflict!)),
                noConflict => noConflict.IfElse(context => context.Saga.DuplicateOf is not null,
                    duplicate => duplicate.EndAsDuplicate(machine),
                    claimed)));

    /// <summary>What every unfinished end records: the error, the time, no more deadlines, the running step failed.</summary>
    private static void End(RunState run, RunError error, DateTime now)
    {
        run.ErrorCode = error.Code;
        run.ErrorMessage = error.Message;
        run.ErrorDetail = error.Detail;
        run.FailedAt = now;
        run.FlushDeadline = null;
        run.RunDeadline = null;
        run.ResendAt = null;
        run.FolderName ??= RunStateMachine.FolderName(run.StartedAt ?? now, run.CorrelationId);
        RunMetrics.FailRunningStep(run, now, $"{error.Code}: {error.Message}");
    }

    private static EventActivityBinder<RunState, T> PublishRunFailed<T>(this EventActivityBinder<RunState, T> binder)
        where T : class =>
        binder.PublishViaOutbox(context => new RunFailed
        {
            RunId = context.Saga.CorrelationId,
            Source = context.Saga.Source ?? string.Empty,
            ErrorCode = context.Saga.ErrorCode!,
            ErrorMessage = context.Saga.ErrorMessage!,
        });

    /// <summary>Asks the flush consumer to confirm the staged output; waits at most FLUSH_TIMEOUT.</summary>
    public static EventActivityBinder<RunState, T> RequestFlush<T>(this EventActivityBinder<RunState, T> binder, RunStateMachine machine)
        where T : class =>
        binder
            .Then(context =>
            {
                var now = machine.Now;
                machine.MarkStarted(context.Saga, now);
                context.Saga.FlushDeadline = now + machine.FlushTimeout;
                RunMetrics.Start(context.Saga, RunMetrics.Flush, now);
                machine.ResendLater(context.Saga);
            })
            .SendFlushRun()
            .TransitionTo(machine.Flushing)
            .Then(context => machine.Log(context.Saga, "Scrape completed: {ExpectedItems} items in {ExpectedBatches} batches announced; flush requested",
                context.Saga.ExpectedItems, context.Saga.ExpectedBatches));

    // The commands the saga waits on. Each is idempotent on the receiving side, so sending one again (after a
    // crash lost it, see RunState.ResendAt) is harmless.

    public static EventActivityBinder<RunState, T> SendFlushRun<T>(this EventActivityBinder<RunState, T> binder)
        where T : class =>
        binder.SendViaOutbox(QueueNames.Flush, context => new FlushRun
        {
            RunId = context.Saga.CorrelationId,
            ExpectedItems = context.Saga.ExpectedItems ?? 0,
            ExpectedBatches = context.Saga.ExpectedBatches ?? 0,
        });

    public static EventActivityBinder<RunState, T> SendPromoteRun<T>(this EventActivityBinder<RunState, T> binder)
        where T : class =>
        binder.SendViaOutbox(QueueNames.Promotion, context => new PromoteRun
        {
            RunId = context.Saga.CorrelationId,
            Source = context.Saga.Source!,
            ProcessType = context.Saga.ProcessType,
        });

    public static EventActivityBinder<RunState, T> SendStampLineage<T>(this EventActivityBinder<RunState, T> binder)
        where T : class =>
        binder.SendViaOutbox(QueueNames.Lineage, context => new StampLineage
        {
            RunId = context.Saga.CorrelationId,
            Source = context.Saga.Source!,
            ProcessType = context.Saga.ProcessType,
        });
}
