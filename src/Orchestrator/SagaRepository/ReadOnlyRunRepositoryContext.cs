using MassTransit;
using MassTransit.Middleware;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.SagaRepository;

/// <summary>Reads runs without locks, for MassTransit's query and load APIs (the test harness uses them).</summary>
internal sealed class ReadOnlyRunRepositoryContext(RunSagaDbContext db, CancellationToken cancellationToken) :
    BasePipeContext(cancellationToken),
    QuerySagaRepositoryContext<RunState>,
    LoadSagaRepositoryContext<RunState>
{
    public Task<RunState> Load(Guid correlationId) =>
        db.Runs.AsNoTracking().SingleOrDefaultAsync(x => x.CorrelationId == correlationId, CancellationToken)!;

    public async Task<SagaRepositoryQueryContext<RunState>> Query(ISagaQuery<RunState> query, CancellationToken cancellationToken = default)
    {
        var ids = await db.Runs.AsNoTracking()
            .Where(query.FilterExpression)
            .Select(x => x.CorrelationId)
            .ToListAsync(cancellationToken);
        return new DefaultSagaRepositoryQueryContext<RunState>(this, ids);
    }
}
