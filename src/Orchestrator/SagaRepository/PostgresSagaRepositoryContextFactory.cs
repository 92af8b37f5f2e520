using MassTransit;
using MassTransit.Saga;
using Npgsql;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging.Outbox;

namespace RunSaga.Orchestrator.SagaRepository;

/// <summary>
/// The run saga's repository on PostgreSQL, in plain Npgsql (MassTransit.EntityFrameworkCore is not available to us, and
/// EF Core's change tracking costs more than the saga needs). One READ COMMITTED transaction per message
/// (<see cref="SagaTransaction"/>); the instance row is locked with <c>SELECT … FOR UPDATE</c>, so messages for one run
/// are applied one at a time; a new instance is inserted with <c>INSERT … ON CONFLICT DO NOTHING</c>; an update checks
/// the version it read. Lost races surface as unique violations or <see cref="ConcurrencyException"/>, which the
/// endpoint's retry policy replays in a new transaction. What the saga publishes or sends is written to the outbox in
/// the same transaction (<see cref="PostgresRunOutbox"/>), and so is the message's line in the run's history
/// (<see cref="SagaHistory"/>, unless RUN_HISTORY is off). Registered per message scope.
/// </summary>
public sealed class PostgresSagaRepositoryContextFactory(
    SagaTransaction transaction,
    ISagaConsumeContextFactory<SagaTransaction, RunState> consumeContextFactory,
    PostgresRunOutbox outbox,
    OutboxDispatcher dispatcher,
    CrashPoint crashPoint,
    IOptions<RunSagaOptions> options,
    IServiceProvider services) :
    ISagaRepositoryContextFactory<RunState>,
    IQuerySagaRepositoryContextFactory<RunState>,
    ILoadSagaRepositoryContextFactory<RunState>
{
    public async Task Send<T>(ConsumeContext<T> context, IPipe<SagaRepositoryContext<RunState, T>> next)
        where T : class
    {
        var repositoryContext = new PostgresSagaRepositoryContext<T>(transaction, context, consumeContextFactory);
        await WithinTransaction(context.CancellationToken, async () =>
        {
            await next.Send(repositoryContext);
            await WriteAsync(context, repositoryContext, context.CancellationToken);
        });
        Committed(repositoryContext);
    }

    /// <summary>
    /// Every run saga event correlates by run id, so MassTransit never queries for instances. An event correlated by an
    /// expression would need a query here; it is refused rather than run without a lock.
    /// </summary>
    public Task SendQuery<T>(ConsumeContext<T> context, ISagaQuery<RunState> query, IPipe<SagaRepositoryQueryContext<RunState, T>> next)
        where T : class =>
        throw new NotSupportedException(
            $"{typeof(T).Name} is correlated by an expression; the run saga's repository correlates by run id only (CorrelateById).");

    public Task<T> Execute<T>(Func<LoadSagaRepositoryContext<RunState>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class =>
        asyncMethod(new ReadOnlyRunRepositoryContext(services.GetRequiredService<RunSagaDbContext>(), cancellationToken));

    public Task<T> Execute<T>(Func<QuerySagaRepositoryContext<RunState>, Task<T>> asyncMethod, CancellationToken cancellationToken = default)
        where T : class =>
        asyncMethod(new ReadOnlyRunRepositoryContext(services.GetRequiredService<RunSagaDbContext>(), cancellationToken));

    public void Probe(ProbeContext context) => context.Add("persistence", "postgresql");

    /// <summary>
    /// One attempt at the message: the saga's changes, its history line and the messages it decided to publish or send
    /// (<see cref="PostgresRunOutbox"/>) are committed together; then the dispatcher is woken to deliver them.
    /// </summary>
    private async Task WithinTransaction(CancellationToken cancellationToken, Func<Task> work)
    {
        // A retry of this message runs in the same scope: it starts with an empty outbox.
        outbox.Clear();
        await transaction.BeginAsync(cancellationToken);
        try
        {
            await work();
            // Not cancelled once the work is done: an interrupted COMMIT would leave its outcome unknown and the message retried.
            await transaction.CommitAsync(CancellationToken.None);
        }
        catch
        {
            await transaction.RollbackAsync();
            outbox.Clear();
            throw;
        }
    }

    /// <summary>
    /// What the state machine decided, in one round trip: the run's UPDATE (if it changed), the message's history line
    /// (unless RUN_HISTORY is off) and the outbox rows. The statements are fixed text, prepared once per connection.
    /// </summary>
    private async Task WriteAsync<T>(ConsumeContext<T> context, PostgresSagaRepositoryContext<T> repositoryContext, CancellationToken cancellationToken)
        where T : class
    {
        await using var batch = new NpgsqlBatch(transaction.Connection, transaction.Transaction);
        var update = repositoryContext.PendingUpdate;
        if (update is not null)
        {
            batch.BatchCommands.Add(update);
        }

        if (options.Value.RunHistory && repositoryContext.Run is { } run)
        {
            batch.BatchCommands.Add(RunHistory.Command(SagaHistory.Entry(context, run, repositoryContext.StateRead, repositoryContext.Changed)));
        }

        if (outbox.Pending.Count > 0)
        {
            batch.BatchCommands.Add(OutboxEntry.InsertCommand(outbox.Pending));
        }

        if (batch.BatchCommands.Count == 0)
        {
            return;
        }

        await batch.PrepareAsync(cancellationToken);
        await batch.ExecuteNonQueryAsync(cancellationToken);
        if (update is not null)
        {
            repositoryContext.UpdateApplied(update.RecordsAffected);
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
