using MassTransit;
using MassTransit.Configuration;
using MassTransit.Saga;
using Microsoft.Extensions.DependencyInjection;
using RunSaga.Orchestrator.Runs;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.SagaRepository;

public static class SagaRepositoryRegistration
{
    /// <summary>
    /// Stores the run saga in <c>runsaga.runs</c> through <see cref="PostgresSagaRepositoryContextFactory"/>; the saga reads
    /// other runs through <see cref="PostgresRunLedger"/> in the same per-message scope and transaction.
    /// </summary>
    public static void UsePostgres(this ISagaRegistrationConfigurator<RunState> saga) =>
        saga.Repository(r =>
        {
            r.RegisterLoadSagaRepository<RunState, PostgresSagaRepositoryContextFactory>();
            r.RegisterQuerySagaRepository<RunState, PostgresSagaRepositoryContextFactory>();
            r.RegisterSagaRepository<RunState, SagaTransaction, SagaConsumeContextFactory<SagaTransaction, RunState>,
                PostgresSagaRepositoryContextFactory>();
            r.AddScoped<SagaTransaction>();
            r.AddScoped<IRunLedger, PostgresRunLedger>();
            r.AddScoped<PostgresRunOutbox>();
            r.AddScoped<IRunOutbox>(sp => sp.GetRequiredService<PostgresRunOutbox>());
        });
}
