using MassTransit;
using RunSaga.Shared.Data;
using RunSaga.Shared.Messaging;

namespace RunSaga.Orchestrator.Runs;

/// <summary>
/// The saga's endpoint: transient database errors (a lost insert race, a deadlock) are retried in a new
/// transaction. No MassTransit outbox: every message the saga publishes or sends goes through <see cref="IRunOutbox"/>,
/// written with the run in its transaction and delivered after the commit, so nobody acts on a state change that was
/// rolled back and no committed change goes unannounced.
/// </summary>
public sealed class RunStateDefinition : SagaDefinition<RunState>
{
    public RunStateDefinition()
    {
        EndpointName = QueueNames.Runs;
        ConcurrentMessageLimit = 16;
    }

    protected override void ConfigureSaga(
        IReceiveEndpointConfigurator endpointConfigurator, ISagaConfigurator<RunState> sagaConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseRunSagaRetry();
    }
}
