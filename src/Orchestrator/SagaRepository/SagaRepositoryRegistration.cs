using MassTransit;
using MassTransit.Configuration;
using MassTransit.Saga;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.SagaRepository;

public static class SagaRepositoryRegistration
{
    /// <summary>Stores the run saga in <c>runsaga.runs</c> through <see cref="PostgresSagaRepositoryContextFactory"/>.</summary>
    public static void UsePostgres(this ISagaRegistrationConfigurator<RunState> saga) =>
        saga.Repository(r =>
        {
            r.RegisterLoadSagaRepository<RunState, PostgresSagaRepositoryContextFactory>();
            r.RegisterQuerySagaRepository<RunState, PostgresSagaRepositoryContextFactory>();
            r.RegisterSagaRepository<RunState, RunSagaDbContext, SagaConsumeContextFactory<RunSagaDbContext, RunState>,
                PostgresSagaRepositoryContextFactory>();
        });
}
