using MassTransit;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.Runs;

/// <summary>
/// The state machine's publish and send: the message goes to the saga's <see cref="IRunOutbox"/>, so it leaves only
/// with the transaction that saves the run (MassTransit's own <c>Publish</c>/<c>Send</c> activities would publish it
/// on their own).
/// </summary>
internal sealed class OutboxActivity<TData, TMessage>(string? queue, Func<BehaviorContext<RunState, TData>, TMessage> create) :
    IStateMachineActivity<RunState, TData>
    where TData : class
    where TMessage : class
{
    public async Task Execute(BehaviorContext<RunState, TData> context, IBehavior<RunState, TData> next)
    {
        await context.GetServiceOrCreateInstance<IRunOutbox>().AddAsync(context, queue, create(context));
        await next.Execute(context);
    }

    public Task Faulted<TException>(BehaviorExceptionContext<RunState, TData, TException> context, IBehavior<RunState, TData> next)
        where TException : Exception =>
        next.Faulted(context);

    public void Probe(ProbeContext context) =>
        context.CreateScope(queue is null ? "publish-via-outbox" : "send-via-outbox").Add("messageType", typeof(TMessage).Name);

    public void Accept(StateMachineVisitor visitor) => visitor.Visit(this);
}

internal static class OutboxActivityExtensions
{
    /// <summary>Publishes the message when the run's transaction commits (see <see cref="IRunOutbox"/>).</summary>
    public static EventActivityBinder<RunState, T> PublishViaOutbox<T, TMessage>(
        this EventActivityBinder<RunState, T> binder, Func<BehaviorContext<RunState, T>, TMessage> create)
        where T : class
        where TMessage : class =>
        binder.Add(new OutboxActivity<T, TMessage>(null, create));

    /// <summary>Sends the command to <paramref name="queue"/> when the run's transaction commits.</summary>
    public static EventActivityBinder<RunState, T> SendViaOutbox<T, TMessage>(
        this EventActivityBinder<RunState, T> binder, string queue, Func<BehaviorContext<RunState, T>, TMessage> create)
        where T : class
        where TMessage : class =>
        binder.Add(new OutboxActivity<T, TMessage>(queue, create));
}
