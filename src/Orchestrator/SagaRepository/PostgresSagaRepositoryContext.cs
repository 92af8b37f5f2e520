using MassTransit;
using MassTransit.Context;
using MassTransit.Saga;
using Npgsql;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.SagaRepository;

/// <summary>
/// The repository's view of one message, on plain Npgsql (<see cref="RunRows"/>): load with a row lock, insert if
/// absent, save only when the message changed the run. Most messages cost one round trip to load and one to save.
/// </summary>
internal sealed class PostgresSagaRepositoryContext<TMessage> :
    ConsumeContextScope<TMessage>,
    SagaRepositoryContext<RunState, TMessage>
    where TMessage : class
{
    private readonly SagaTransaction transaction;
    private readonly ConsumeContext<TMessage> consumeContext;
    private readonly ISagaConsumeContextFactory<SagaTransaction, RunState> factory;

    // The run this transaction locked, and its saga columns as read (to tell whether the message changed anything).
    private RunState? locked;
    private object?[]? asRead;
    private int versionRead;
    private RunState? pendingUpdate;

    public PostgresSagaRepositoryContext(
        SagaTransaction transaction, ConsumeContext<TMessage> consumeContext, ISagaConsumeContextFactory<SagaTransaction, RunState> factory)
        : base(consumeContext, transaction)
    {
        this.transaction = transaction;
        this.consumeContext = consumeContext;
        this.factory = factory;
    }

    /// <summary>The run as this message's transaction saved it (null when it saved nothing).</summary>
    public RunState? Saved { get; private set; }

    /// <summary>The run this message was applied to (locked or created), null when it matched none.</summary>
    public RunState? Run => Saved ?? locked;

    /// <summary>Whether the message changed the run: saved already, or its UPDATE is pending.</summary>
    public bool Changed => Saved is not null || pendingUpdate is not null;

    /// <summary>The run's state when this transaction locked it; null for a run this message created.</summary>
    public string? StateRead { get; private set; }

    public Task<SagaConsumeContext<RunState, TMessage>> Add(RunState instance)
    {
        StampCreated(instance);
        return factory.CreateSagaConsumeContext(transaction, consumeContext, instance, SagaConsumeContextMode.Add);
    }

    /// <summary>
    /// A message that may create the run. Most find it: one locking read, and MassTransit's <see cref="Load"/> that
    /// follows a null answer costs nothing more. Otherwise the new run is inserted unless another message inserted it a
    /// moment before; then that one's row is locked (waiting for its commit) and used, as for a run that existed.
    /// Null (not an exception) for "exists": on PostgreSQL a failed statement would poison the transaction.
    /// </summary>
    public async Task<SagaConsumeContext<RunState, TMessage>> Insert(RunState instance)
    {
        if (await LockAndLoad(instance.CorrelationId) is not null)
        {
            return null!;
        }

        if (!await TryInsert(instance))
        {
            await LockAndLoad(instance.CorrelationId);
            return null!;
        }

        // Our own insert holds the row lock until commit.
        Track(instance, version: 0);
        StateRead = null;
        return await factory.CreateSagaConsumeContext(transaction, consumeContext, instance, SagaConsumeContextMode.Insert);
    }

    public async Task<SagaConsumeContext<RunState, TMessage>> Load(Guid correlationId)
    {
        var instance = await LockAndLoad(correlationId);
        return instance is null
            ? null!
            : await factory.CreateSagaConsumeContext(transaction, consumeContext, instance, SagaConsumeContextMode.Load);
    }

    /// <summary>
    /// Saves a run created on the "missing" path (a message that matched no run and was not inserted first). Another
    /// message may have created the same run, or a run with the same idempotency key, a moment earlier: then nothing is
    /// inserted and the <see cref="ConcurrencyException"/> sends the message round again, when it finds that run.
    /// </summary>
    public async Task Save(SagaConsumeContext<RunState> context)
    {
        var run = context.Saga;
        if (!await TryInsert(run))
        {
            throw new ConcurrencyException(
                $"Run {run.CorrelationId} (or a run with idempotency key '{run.IdempotencyKey}') was created by a concurrent message; retrying.",
                typeof(RunState), run.CorrelationId);
        }

        Saved = run;
    }

    /// <summary>
    /// The saga's columns, if the message changed any, checking the version read (retention writes the same row under the
    /// same lock, and bumps it too). Not sent yet: <see cref="PendingUpdate"/> goes to PostgreSQL in one round trip with the
    /// run's history line and outbox rows, when the state machine is done (<see cref="PostgresSagaRepositoryContextFactory"/>).
    /// </summary>
    public Task Update(SagaConsumeContext<RunState> context)
    {
        var run = context.Saga;
        if (!ReferenceEquals(run, locked) || asRead is null)
        {
            throw new InvalidOperationException($"Run {run.CorrelationId} is saved by a transaction that did not lock it.");
        }

        if (RunRows.Changed(run, asRead))
        {
            pendingUpdate = run;
        }

        return Task.CompletedTask;
    }

    /// <summary>The run's UPDATE, when the message changed it (see <see cref="Update"/>); null otherwise.</summary>
    public NpgsqlBatchCommand? PendingUpdate
    {
        get
        {
            if (pendingUpdate is not { } run)
            {
                return null;
            }

            var command = new NpgsqlBatchCommand(RunRows.UpdateSql);
            RunRows.AddUpdateParameters(command.Parameters, run, versionRead);
            return command;
        }
    }

    /// <summary>
    /// What the pending UPDATE did: one row, or the row changed under its lock (a <see cref="ConcurrencyException"/>, which
    /// the endpoint's retry policy replays in a new transaction).
    /// </summary>
    public void UpdateApplied(int rows)
    {
        var run = pendingUpdate!;
        if (rows != 1)
        {
            throw new ConcurrencyException($"Run {run.CorrelationId} changed under its row lock (version {versionRead}); retrying.",
                typeof(RunState), run.CorrelationId);
        }

        run.Version = versionRead + 1;
        Saved = run;
        pendingUpdate = null;
    }

    public async Task Delete(SagaConsumeContext<RunState> context)
    {
        await using var command = await transaction.CommandAsync(RunRows.DeleteSql, prepare: false, CancellationToken, c =>
        {
            c.Parameters.AddWithValue(context.Saga.CorrelationId);
            c.Parameters.AddWithValue(versionRead);
        });
        await command.ExecuteNonQueryAsync(CancellationToken);
    }

    public Task Discard(SagaConsumeContext<RunState> context) => Task.CompletedTask;

    public Task Undo(SagaConsumeContext<RunState> context) => Task.CompletedTask;

    public Task<SagaConsumeContext<RunState, T>> CreateSagaConsumeContext<T>(
        ConsumeContext<T> consumeContext, RunState instance, SagaConsumeContextMode mode)
        where T : class =>
        factory.CreateSagaConsumeContext(transaction, consumeContext, instance, mode);

    /// <summary>The run's row, locked for this transaction; the copy already locked if this transaction has it.</summary>
    public async Task<RunState?> LockAndLoad(Guid id)
    {
        if (locked?.CorrelationId == id)
        {
            return locked;
        }

        await using var command = await transaction.CommandAsync(RunRows.LockSql, prepare: true, CancellationToken,
            c => c.Parameters.AddWithValue(id));
        await using var reader = await command.ExecuteReaderAsync(CancellationToken);
        if (!await reader.ReadAsync(CancellationToken))
        {
            return null;
        }

        var run = RunRows.Read(reader);
        Track(run, run.Version);
        StateRead = run.CurrentState;
        return run;
    }

    private void Track(RunState run, int version)
    {
        locked = run;
        asRead = RunRows.Snapshot(run);
        versionRead = version;
    }

    private async Task<bool> TryInsert(RunState run)
    {
        StampCreated(run);
        await using var command = await transaction.CommandAsync(RunRows.InsertSql, prepare: true, CancellationToken,
            c => RunRows.AddInsertParameters(c.Parameters, run));
        return await command.ExecuteNonQueryAsync(CancellationToken) == 1;
    }

    private static void StampCreated(RunState instance)
    {
        if (instance.CreatedAt == default)
        {
            instance.CreatedAt = DateTime.UtcNow;
        }
    }
}
