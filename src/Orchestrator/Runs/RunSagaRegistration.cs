using MassTransit;
using RunSaga.Orchestrator.SagaRepository;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.Runs;

public static class RunSagaRegistration
{
    /// <summary>The run saga on its endpoint, stored in PostgreSQL.</summary>
    public static void AddRunSaga(this IBusRegistrationConfigurator bus) =>
        bus.AddSagaStateMachine<RunStateMachine, RunState, RunStateDefinition>().UsePostgres();
}
