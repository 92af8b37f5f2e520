using System.Data;
using MassTransit;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging.Outbox;

namespace RunSaga.Orchestrator.SagaRepository;

/// <summary>
/// The run saga's repository on PostgreSQL (MassTransit.EntityFrameworkCore is not available to us).
/// One READ COMMITTED transaction per message; the instance row is locked with <c>SELECT … FOR UPDATE</c>,
/// so messages for one run are applied one at a time; a new instance is inserted with
/// <c>INSERT … ON CONFLICT DO NOTHING</c>. Lost races surface as unique violations or
/// <see cref="DbUpdateConcurrencyException"/>, which the endpoint's retry policy replays in a new transaction.
/// What the saga publishes or sends is written to the outbox in the same transaction (<see cref="PostgresRunOutbox"/>).
/// Registered per message scope, so <paramref name="db"/> is the message's own context.
/// </summary>
public sealed class PostgresSagaRepositoryContextFactory(
    RunSagaDbContext db,
    ISagaConsumeContextFactory<RunSagaDbContext, RunState> consumeContextFactory,
    PostgresRunOutbox outbox,
    OutboxDispatcher dispatcher,
    CrashPoint crashPoint) :
    ISagaRepositoryContextFactory<RunState>,
    IQuerySagaRepositoryContextFactory<RunState>,
    ILoadSagaRepositoryContextFactory<RunState>
{
    public async Task Send<T>(ConsumeContext<T> context, IPipe<SagaRepositoryContext<RunState, T>> next)
        where T : class
    {
        var repositoryContext = new PostgresSagaRepositoryContext<T>(db, context, consumeContextFactory);
        await WithinTransaction(context.CancellationToken, () => next.Send(repositoryContext));
        Committed(repositoryContext);
    }

    public async Task SendQuery<T>(ConsumeContext<T> context, ISagaQuery<RunState> query, IPipe<SagaRepositoryQueryContext<RunState, T>> next)
        where T : class
    {
        var repositoryContext = new PostgresSagaRepositoryContext<T>(db, context, consumeContextFactory);
        await WithinTransaction(context.CancellationToken, async () =>
        {

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
        Committed(repositoryContext);
    }

    public Task<T> Execute<T>(Func<LoadSagaRepositoryContext<RunState>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class =>
        asyncMethod(new ReadOnlyRunRepositoryContext(db, cancellationToken));

    public Task<T> Execute<T>(Func<QuerySagaRepositoryContext<RunState>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class =>
        asyncMethod(new ReadOnlyRunRepositoryContext(db, cancellationToken));

    public void Probe(ProbeContext context) => context.Add("persistence", "postgresql");

    /// <summary>
    /// One attempt at the message: the saga's changes and the messages it decided to publish or send
    /// (<see cref="PostgresRunOutbox"/>) are committed together; then the dispatcher is woken to deliver them.
    /// </summary>
    private async Task WithinTransaction(CancellationToken cancellationToken, Func<Task> work)
    {
        // A retry of this message runs in the same scope: start from a clean change tracker and an empty outbox.
        db.ChangeTracker.Clear();
        outbox.Clear();
        await using var transaction = await db.Database.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        try
        {
            await work();
            await outbox.WriteAsync(
                (NpgsqlConnection)db.Database.GetDbConnection(), (NpgsqlTransaction)transaction.GetDbTransaction(), cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        catch
        {
            await transaction.RollbackAsync(CancellationToken.None);
            db.ChangeTracker.Clear();
            outbox.Clear();
            throw;
        }
    }

    private void Committed<T>(PostgresSagaRepositoryContext<T> repositoryContext)
        where T : class
    {
        if (repositoryContext.Saved is { } saved)
        {
            crashPoint.Reached($"saga-committed:{saved.CurrentState}", saved.Source);
        }

        if (outbox.Pending.Count > 0)
        {
            dispatcher.Wake();
        }
    }
}
