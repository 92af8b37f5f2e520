using MassTransit;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.Runs;

/// <summary>
/// Where the run saga puts every message it publishes or sends. In the Orchestrator the messages are written to
/// <c>runsaga.outbox_messages</c> in the transaction that saves the run, and delivered after it commits
/// (<see cref="SagaRepository.PostgresRunOutbox"/>): a state change and what it announces are never apart.
/// </summary>
public interface IRunOutbox
{
    /// <param name="queue">Null to publish the message; a queue name (<see cref="RunSaga.Shared.Messaging.QueueNames"/>) to send it there.</param>
    Task AddAsync<T>(BehaviorContext<RunState> context, string? queue, T message)
        where T : class;
}
