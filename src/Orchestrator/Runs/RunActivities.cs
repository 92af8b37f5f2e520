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
                var now = DateTime.UtcNow;
                var (code, message, detail) = error(context);
                var run = context.Saga;
                run.ErrorCode = code;
                run.ErrorMessage = message;
                run.ErrorDetail = detail;
                run.FailedAt = now;
                run.FlushDeadline = null;
                run.RunDeadline = null;
                run.ResendAt = null;
                run.FolderName ??= $"{(run.StartedAt ?? now):yyyyMMdd_HHmmss}_{run.CorrelationId}";
                RunMetrics.FailRunningStep(run, now, $"{code}: {message}");
                machine.LogFailure(run);
            })
            .TransitionTo(machine.Failed)
            .Publish(context => new RunFailed
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
                var now = DateTime.UtcNow;
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
        binder.Send(QueueNames.Address(QueueNames.Flush), context => new FlushRun
        {
            RunId = context.Saga.CorrelationId,
            ExpectedItems = context.Saga.ExpectedItems ?? 0,
            ExpectedBatches = context.Saga.ExpectedBatches ?? 0,
        });

    public static EventActivityBinder<RunState, T> SendPromoteRun<T>(this EventActivityBinder<RunState, T> binder)
        where T : class =>
        binder.Send(QueueNames.Address(QueueNames.Promotion), context => new PromoteRun
        {
            RunId = context.Saga.CorrelationId,
            Source = context.Saga.Source!,
            ProcessType = context.Saga.ProcessType,
        });

    public static EventActivityBinder<RunState, T> SendStampLineage<T>(this EventActivityBinder<RunState, T> binder)
        where T : class =>
        binder.Send(QueueNames.Address(QueueNames.Lineage), context => new StampLineage
        {
            RunId = context.Saga.CorrelationId,
            Source = context.Saga.Source!,
            ProcessType = context.Saga.ProcessType,
        });
}
