using MassTransit;
using MassTransit.Context;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using NpgsqlTypes;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.SagaRepository;

/// <summary>The repository's view of one message: load with a row lock, insert-if-absent, save.</summary>
internal sealed class PostgresSagaRepositoryContext<TMessage> :
    ConsumeContextScope<TMessage>,
    SagaRepositoryContext<RunState, TMessage>
    where TMessage : class
{
    private readonly RunSagaDbContext db;
    private readonly ConsumeContext<TMessage> consumeContext;
    private readonly ISagaConsumeContextFactory<RunSagaDbContext, RunState> factory;

    public PostgresSagaRepositoryContext(
        RunSagaDbContext db, ConsumeContext<TMessage> consumeContext, ISagaConsumeContextFactory<RunSagaDbContext, RunState> factory)
        : base(consumeContext, db)
    {
        this.db = db;
        this.consumeContext = consumeContext;
        this.factory = factory;
    }

    private const string LockSql = """SELECT * FROM runsaga.runs WHERE id = {0} FOR UPDATE""";

    // A format string for ExecuteSqlRaw: the empty array literal's braces are doubled ('{{}}' is sent as '{}').
    // ExecuteSqlRaw formats its SQL like string.Format: literal braces are doubled.
    // With no conflict target, a row that exists with this id *or* with this idempotency key means "not inserted".
    private const string InsertSql = """
        INSERT INTO runsaga.runs (id, version, saga_state, status, process_type, idempotency_key, created_at, batch_ids, metrics)
        VALUES ({0}, 0, {1}, {2}, {3}, {4}, {5}, '{{}}', '[]')
        ON CONFLICT DO NOTHING
        """;

    /// <summary>The run as this message's transaction saved it (null when it saved nothing).</summary>
    public RunState? Saved { get; private set; }

    public Task<SagaConsumeContext<RunState, TMessage>> Add(RunState instance)
    {
        StampCreated(instance);
        return factory.CreateSagaConsumeContext(db, consumeContext, instance, SagaConsumeContextMode.Add);
    }

    /// <summary>
    /// Inserts the new instance unless a row with its id exists. On a duplicate it returns null (not an
    /// exception: on PostgreSQL a failed statement would poison the transaction) and MassTransit loads the
    /// existing row instead.
    /// </summary>
    public async Task<SagaConsumeContext<RunState, TMessage>> Insert(RunState instance)
    {
        StampCreated(instance);
        if (!await TryInsert(instance))
        {
            return null!;
        }

        // Our own insert holds the row lock until commit; load it tracked so the behaviour's changes are saved.
        var row = await LockAndLoad(instance.CorrelationId)
            ?? throw new InvalidOperationException($"Run {instance.CorrelationId} vanished right after it was inserted.");
        return await factory.CreateSagaConsumeContext(db, consumeContext, row, SagaConsumeContextMode.Insert);
    }

    public async Task<SagaConsumeContext<RunState, TMessage>> Load(Guid correlationId)
    {
        var instance = await LockAndLoad(correlationId);
        return instance is null
            ? null!
            : await factory.CreateSagaConsumeContext(db, consumeContext, instance, SagaConsumeContextMode.Load);
    }

    /// <summary>
    /// Saves a run created on the "missing" path (a <c>RunRequested</c> that matched no run). Another message
    /// may have created the same run, or a run with the same idempotency key, a moment earlier: then nothing is
    /// inserted and the <see cref="ConcurrencyException"/> sends the message round again, when it finds that run.
    /// </summary>
    public async Task Save(SagaConsumeContext<RunState> context)
    {
        var run = context.Saga;
        db.Entry(run).State = EntityState.Detached;
        if (!await TryInsert(run))
        {
            throw new ConcurrencyException(
                $"Run {run.CorrelationId} (or a run with idempotency key '{run.IdempotencyKey}') was created by a concurrent message; retrying.",
                typeof(RunState), run.CorrelationId);
        }

        // The row exists with the identity columns; write the rest of what the behaviour set.
        db.Entry(run).State = EntityState.Modified;
        await db.SaveChangesAsync(CancellationToken);
        Saved = run;
    }

    public async Task Update(SagaConsumeContext<RunState> context)
    {
        var entry = db.Entry(context.Saga);
        if (entry.State == EntityState.Modified)
        {
            context.Saga.Version++;
        }

        await db.SaveChangesAsync(CancellationToken);
        Saved = context.Saga;
    }

    public async Task Delete(SagaConsumeContext<RunState> context)
    {
        db.Runs.Remove(context.Saga);
        await db.SaveChangesAsync(CancellationToken);
    }

    public Task Discard(SagaConsumeContext<RunState> context)
    {
        db.Entry(context.Saga).State = EntityState.Detached;
        return Task.CompletedTask;
    }

    public Task Undo(SagaConsumeContext<RunState> context)
    {
        db.ChangeTracker.Clear();
        return Task.CompletedTask;
    }

    public Task<SagaConsumeContext<RunState, T>> CreateSagaConsumeContext<T>(
        ConsumeContext<T> consumeContext, RunState instance, SagaConsumeContextMode mode)
        where T : class =>
        factory.CreateSagaConsumeContext(db, consumeContext, instance, mode);

    /// <summary>The run's row, locked for this transaction; the tracked copy if this transaction has it already.</summary>
    public async Task<RunState?> LockAndLoad(Guid id)
    {
        var tracked = db.Runs.Local.FirstOrDefault(x => x.CorrelationId == id);
        if (tracked is not null)
        {
            return tracked;
        }

        var rows = await db.Runs.FromSqlRaw(LockSql, id).ToListAsync(CancellationToken);
        return rows.FirstOrDefault();
    }

    private async Task<bool> TryInsert(RunState instance) =>
        await db.Database.ExecuteSqlRawAsync(
            InsertSql,
            [
                new NpgsqlParameter("id", instance.CorrelationId),
                new NpgsqlParameter("state", instance.CurrentState),
                new NpgsqlParameter("status", instance.Status),
                new NpgsqlParameter("process_type", instance.ProcessType),
                new NpgsqlParameter("key", NpgsqlDbType.Varchar) { Value = (object?)instance.IdempotencyKey ?? DBNull.Value },
                new NpgsqlParameter("created_at", instance.CreatedAt),
            ],
            CancellationToken) == 1;

    private static void StampCreated(RunState instance)
    {
        if (instance.CreatedAt == default)
        {
            instance.CreatedAt = DateTime.UtcNow;
        }
    }
}
