using MassTransit;
using Microsoft.Extensions.Options;
using RunSaga.Contracts;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;

namespace RunSaga.Orchestrator.Runs;

/// <summary>Why a run failed.</summary>
public readonly record struct RunError(string Code, string Message, string? Detail = null);

/// <summary>
/// A step the run saga takes in several states. It changes only the run's row; the state machine's constructor says when
/// it runs and where the run goes next. What it needs (the clock, the options, the run ledger, a logger) it takes from the
/// message's scope, so specs drive it with their own clock and ledger.
/// </summary>
internal abstract class RunActivity<T> : IStateMachineActivity<RunState, T>
    where T : class
{
    public async Task Execute(BehaviorContext<RunState, T> context, IBehavior<RunState, T> next)
    {
        await Apply(context);
        await next.Execute(context);
    }

    protected abstract Task Apply(BehaviorContext<RunState, T> context);

    public Task Faulted<TException>(BehaviorExceptionContext<RunState, T, TException> context, IBehavior<RunState, T> next)
        where TException : Exception =>
        next.Faulted(context);

    public void Probe(ProbeContext context) => context.CreateScope(GetType().Name.Split('`')[0]);

    public void Accept(StateMachineVisitor visitor) => visitor.Visit(this);

    protected static DateTime Now(BehaviorContext<RunState, T> context) =>
        context.GetServiceOrCreateInstance<TimeProvider>().GetUtcNow().UtcDateTime;

    protected static RunSagaOptions Options(BehaviorContext<RunState, T> context) =>
        context.GetServiceOrCreateInstance<IOptions<RunSagaOptions>>().Value;

    protected static ILogger Logger(BehaviorContext<RunState, T> context) =>
        context.GetServiceOrCreateInstance<ILogger<RunStateMachine>>();
}

/// <summary>
/// What every unfinished end records (Failed, Cancelled, Duplicate): the error, the time, no more deadlines, the running
/// step failed. A failure is logged as a warning; a duplicate is not a failure and is logged by the machine.
/// </summary>
internal sealed class EndRun<T>(Func<BehaviorContext<RunState, T>, RunError> error, bool isFailure) : RunActivity<T>
    where T : class
{
    protected override Task Apply(BehaviorContext<RunState, T> context)
    {
        var run = context.Saga;
        var (code, message, detail) = error(context);
        var now = Now(context);
        run.ErrorCode = code;
        run.ErrorMessage = message;
        run.ErrorDetail = detail;
        run.FailedAt = now;
        run.FlushDeadline = null;
        run.RunDeadline = null;
        run.ResendAt = null;
        run.FolderName ??= RunRecord.FolderName(run.StartedAt ?? now, run.CorrelationId);
        RunMetrics.FailRunningStep(run, now, $"{code}: {message}");
        if (isFailure)
        {
            using var scope = RunLogScope.Begin(run.CorrelationId, run.Source);
            Logger(context).LogWarning("Run failed with {ErrorCode}: {ErrorMessage}", run.ErrorCode, run.ErrorMessage);
        }

        return Task.CompletedTask;
    }
}

/// <summary>
/// Claims the message's idempotency key for a run that has no key yet, before the run can be flushed: free, it becomes the
/// run's (a new attempt when the key's runs all failed or were cancelled); held by another run of the source, this run id
/// is a duplicate of it (<see cref="RunState.DuplicateOf"/>); held by a run of another source, the key conflicts
/// (<see cref="RunState.KeyConflict"/>). What follows is the machine's: see <see cref="RunRecord.KeyRefused"/>.
/// <para>
/// <paramref name="mayEndRun"/> false: the key reaches a run too late to end it (Flushed or later: it was started without
/// its key). It is recorded when no other run holds it, or when this run failed; otherwise only logged.
/// </para>
/// </summary>
internal sealed class ClaimKey<T>(Func<T, string?> key, bool mayEndRun) : RunActivity<T>
    where T : class
{
    protected override async Task Apply(BehaviorContext<RunState, T> context)
    {
        var run = context.Saga;
        var wanted = key(context.Message);
        if (wanted is null || run.IdempotencyKey is not null || run.RequestProblem is not null || wanted.Length > RequestLimits.IdempotencyKey)
        {
            return;
        }

        var standing = await context.GetServiceOrCreateInstance<IRunLedger>()
            .KeyStandingAsync(wanted, run.CorrelationId, run.CreatedAt, context.CancellationToken);
        if (standing.Holder is { } holder && !RunStatus.EndedUnfinished(run.Status))
        {
            if (!mayEndRun)
            {
                using var scope = RunLogScope.Begin(run.CorrelationId, run.Source);
                Logger(context).LogWarning(
                    "The run's request with idempotency key {IdempotencyKey} arrived after the run was flushed, and run {Holder} holds that key; "
                    + "this run keeps no key. Scrapers should send the key on RunStarted too (docs/wire-format.md)", wanted, holder.RunId);
                return;
            }

            if (holder.Source != run.Source)
            {
                run.KeyConflict = $"The idempotency key '{wanted}' is held by run {holder.RunId} of source '{holder.Source}'; a key names "
                    + "one source's run. Use a key that includes the source (source:inputVersion:pipelineVersion).";
                return;
            }

            run.IdempotencyKey = wanted;
            run.DuplicateOf = holder.RunId;
            return;
        }

        run.IdempotencyKey = wanted;
        if (standing.LastAttempt is { } last)
        {
            run.RetryOf = last.RunId;
            run.Attempt = last.Attempt + 1;
        }
    }
}

/// <summary>The scrape is complete and the run known: it is started (if nothing said so yet) and waits at most FLUSH_TIMEOUT for its flush verdict.</summary>
internal sealed class StartFlush<T> : RunActivity<T>
    where T : class
{
    protected override Task Apply(BehaviorContext<RunState, T> context)
    {
        var run = context.Saga;
        var now = Now(context);
        var options = Options(context);
        RunRecord.MarkStarted(run, now, options.RunTimeout);
        run.FlushDeadline = now + options.FlushTimeout;
        run.ResendAt = now + options.ResendAfter;
        RunMetrics.Start(run, RunMetrics.Flush, now);
        return Task.CompletedTask;
    }
}

/// <summary>
/// The saga now waits on a command it has sent: if no answer has come by RESEND_AFTER, the deadline watcher has it sent
/// again (a last resort: the outbox delivers what a crash left as soon as a host is back).
/// </summary>
internal sealed class ResendLater<T> : RunActivity<T>
    where T : class
{
    protected override Task Apply(BehaviorContext<RunState, T> context)
    {
        context.Saga.ResendAt = Now(context) + Options(context).ResendAfter;
        return Task.CompletedTask;
    }
}

/// <summary>What the run's row knows, as the activities and the machine both need it.</summary>
internal static class RunRecord
{
    /// <summary>The run has started (by a <c>RunStarted</c>, or by its completion arriving first): its folder and RUN_TIMEOUT.</summary>
    public static void MarkStarted(RunState run, DateTime now, TimeSpan runTimeout)
    {
        run.StartedAt ??= now;
        run.FolderName ??= FolderName(run.StartedAt.Value, run.CorrelationId);
        run.RunDeadline ??= (run.CreatedAt == default ? now : run.CreatedAt) + runTimeout;
    }

    public static string FolderName(DateTime startedAt, Guid runId) =>
        $"{startedAt.ToString("yyyyMMdd_HHmmss", System.Globalization.CultureInfo.InvariantCulture)}_{runId}";

    /// <summary>The request or start was refused, or its key was: the run id ends here (see <see cref="ClaimKey{T}"/>).</summary>
    public static bool KeyRefused(RunState run) => run.RequestProblem is not null || run.KeyConflict is not null || run.DuplicateOf is not null;

    /// <summary>Why a refused request ends its run: beyond <see cref="RequestLimits"/>, or a key another source's run holds.</summary>
    public static RunError Refusal(RunState run) =>
        run.RequestProblem is not null
            ? new RunError(ErrorCodes.InvalidRequest, run.RequestProblem)
            : new RunError(ErrorCodes.IdempotencyKeyConflict, run.KeyConflict!);

    public static RunError Duplicate(RunState run) =>
        new(ErrorCodes.DuplicateRun,
            $"The idempotency key '{run.IdempotencyKey}' is held by run {run.DuplicateOf}; this run id was "
            + "not run and takes no batches. Follow that run, or retry the key with a new run id once it failed or was cancelled.");

    public static RunAccepted Accepted(RunState run) => new()
    {
        RunId = run.CorrelationId,
        Source = run.Source!,
        IdempotencyKey = run.IdempotencyKey,
        DuplicateOf = run.DuplicateOf,
        Attempt = run.Attempt,
        RetryOf = run.RetryOf,
    };

    public static RunFailed Failed(RunState run) => new()
    {
        RunId = run.CorrelationId,
        Source = run.Source ?? string.Empty,
        ErrorCode = run.ErrorCode!,
        ErrorMessage = run.ErrorMessage!,
    };
}

/// <summary>The activities, named as the state machine's constructor uses them.</summary>
internal static class RunActivityExtensions
{
    /// <summary>Records a failure (<see cref="EndRun{T}"/>); the caller moves the run to Failed or Cancelled and publishes RunFailed.</summary>
    public static EventActivityBinder<RunState, T> RecordFailure<T>(
        this EventActivityBinder<RunState, T> binder, Func<BehaviorContext<RunState, T>, RunError> error)
        where T : class =>
        binder.Add(new EndRun<T>(error, isFailure: true));

    /// <summary>Records that the run id is a duplicate of the key's holder; it ends without a failure.</summary>
    public static EventActivityBinder<RunState, T> RecordDuplicate<T>(this EventActivityBinder<RunState, T> binder)
        where T : class =>
        binder.Add(new EndRun<T>(context => RunRecord.Duplicate(context.Saga), isFailure: false));

    public static EventActivityBinder<RunState, T> ClaimKey<T>(this EventActivityBinder<RunState, T> binder, Func<T, string?> key, bool mayEndRun = true)
        where T : class =>
        binder.Add(new ClaimKey<T>(key, mayEndRun));

    public static EventActivityBinder<RunState, T> StartFlush<T>(this EventActivityBinder<RunState, T> binder)
        where T : class =>
        binder.Add(new StartFlush<T>());

    public static EventActivityBinder<RunState, T> ResendLater<T>(this EventActivityBinder<RunState, T> binder)
        where T : class =>
        binder.Add(new ResendLater<T>());

    public static EventActivityBinder<RunState, T> PublishAccepted<T>(this EventActivityBinder<RunState, T> binder)
        where T : class =>
        binder.PublishViaOutbox(context => RunRecord.Accepted(context.Saga));

    public static EventActivityBinder<RunState, T> PublishRunFailed<T>(this EventActivityBinder<RunState, T> binder)
        where T : class =>
        binder.PublishViaOutbox(context => RunRecord.Failed(context.Saga));

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
