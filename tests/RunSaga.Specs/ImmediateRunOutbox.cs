using MassTransit;
using RunSaga.Orchestrator.Runs;
using RunSaga.Shared.Data;
using RunSaga.Shared.Messaging;

namespace RunSaga.Specs;

/// <summary>
/// The specs' outbox: the in-memory saga repository has no transaction to write into, so the saga's messages are
/// published or sent at once through the message's own context (the harness records them as usual). The outbox table and
/// its dispatcher are covered against PostgreSQL and RabbitMQ by the integration tests.
/// </summary>
public sealed class ImmediateRunOutbox : IRunOutbox
{
    public async Task AddAsync<T>(BehaviorContext<RunState> context, string? queue, T message)
        where T : class
    {
        if (queue is null)
        {
            await context.Publish(message);
        }
        else
        {
            var endpoint = await context.GetSendEndpoint(QueueNames.Address(queue));
            await endpoint.Send(message);
        }
    }
}
