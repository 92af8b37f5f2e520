using MassTransit;
using RunSaga.Orchestrator.Runs;
using RunSaga.Shared.Data;
using RunSaga.Shared.Messaging.Outbox;

namespace RunSaga.Orchestrator.SagaRepository;

/// <summary>
/// The saga's outbox for one message (scoped like the repository): what the state machine publishes or sends is kept
/// here, written to <c>runsaga.outbox_messages</c> by <see cref="PostgresSagaRepositoryContextFactory"/> (with the run's
/// UPDATE and history line, in one round trip) just before the run's transaction commits, and delivered by the
/// <see cref="OutboxDispatcher"/> after it.
/// </summary>
public sealed class PostgresRunOutbox : IRunOutbox
{
    private readonly List<OutboxEntry> pending = [];

    public IReadOnlyList<OutboxEntry> Pending => pending;

    public Task AddAsync<T>(BehaviorContext<RunState> context, string? queue, T message)
        where T : class
    {
        pending.Add(OutboxEntry.For(message, context.Saga.CorrelationId, queue, context));
        return Task.CompletedTask;
    }

    /// <summary>A new attempt at the message (after a rollback) starts with nothing to send.</summary>
    public void Clear() => pending.Clear();
}
