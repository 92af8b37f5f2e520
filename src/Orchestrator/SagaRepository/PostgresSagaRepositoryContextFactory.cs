using System.Data;
using MassTransit;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.SagaRepository;

/// <summary>
/// The run saga's repository on PostgreSQL (MassTransit.EntityFrameworkCore is not available to us).
/// One READ COMMITTED transaction per message; the instance row is locked with <c>SELECT … FOR UPDATE</c>,
/// so messages for one run are applied one at a time; a new instance is inserted with
/// <c>INSERT … ON CONFLICT DO NOTHING</c>. Lost races surface as unique violations or
/// <see cref="DbUpdateConcurrencyException"/>, which the endpoint's retry policy replays in a new transaction.
/// Registered per message scope, so <paramref name="db"/> is the message's own context.
/// </summary>
public sealed class PostgresSagaRepositoryContextFactory(
    RunSagaDbContext db,
    ISagaConsumeContextFactory<RunSagaDbContext, RunState> consumeContextFactory) :
    ISagaRepositoryContextFactory<RunState>,
    IQuerySagaRepositoryContextFactory<RunState>,
    ILoadSagaRepositoryContextFactory<RunState>
{
    public async Task Send<T>(ConsumeContext<T> context, IPipe<SagaRepositoryContext<RunState, T>> next)
        where T : class
    {
        await WithinTransaction(context.CancellationToken, () =>
        {
            var repositoryContext = new PostgresSagaRepositoryContext<T>(db, context, consumeContextFactory);
            return next.Send(repositoryContext);
        });
    }

    public async Task SendQuery<T>(ConsumeContext<T> context, ISagaQuery<RunState> query, IPipe<SagaRepositoryQueryContext<RunState, T>> next)
        where T : class
    {
        await WithinTransaction(context.CancellationToken, async () =>
        {
            var repositoryContext = new PostgresSagaRepositoryContext<T>(db, context, consumeContextFactory);

            // EF translates a correlation expression to SQL (the run saga correlates every event by run id today, so this
            // serves MassTransit's query path only);
            // the matches are then locked one by one, in id order so two messages cannot deadlock.
            var ids = await db.Runs.AsNoTracking()
                .Where(query.FilterExpression)
                .Select(x => x.CorrelationId)
                .OrderBy(x => x)
                .ToListAsync(context.CancellationToken);

            var instances = new List<RunState>(ids.Count);
            foreach (var id in ids)
            {
                if (await repositoryContext.LockAndLoad(id) is { } instance)
                {
                    instances.Add(instance);
                }
            }

            await next.Send(new LoadedSagaRepositoryQueryContext<RunState, T>(repositoryContext, instances));
        });
    }

    public Task<T> Execute<T>(Func<LoadSagaRepositoryContext<RunState>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class =>
        asyncMethod(new ReadOnlyRunRepositoryContext(db, cancellationToken));

    public Task<T> Execute<T>(Func<QuerySagaRepositoryContext<RunState>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class =>
        asyncMethod(new ReadOnlyRunRepositoryContext(db, cancellationToken));

    public void Probe(ProbeContext context) => context.Add("persistence", "postgresql");

    private async Task WithinTransaction(CancellationToken cancellationToken, Func<Task> work)
    {
        // A retry of this message runs in the same scope: start from a clean change tracker.
        db.ChangeTracker.Clear();
        await using var transaction = await db.Database.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        try
        {
            await work();
            await transaction.CommitAsync(cancellationToken);
        }
        catch
        {
            await transaction.RollbackAsync(CancellationToken.None);
            db.ChangeTracker.Clear();
            throw;
        }
    }
}
