using System.Data;
using Npgsql;

namespace RunSaga.Orchestrator.SagaRepository;

/// <summary>
/// The saga's database transaction for one message (scoped like the repository): the run's row lock, the run ledger's
/// reads and the outbox's rows all live in it. One READ COMMITTED transaction per attempt, on a connection taken from the
/// pool for that attempt and given back at its end; a retry begins a new one (on a healthy connection, if a broken one
/// failed the attempt).
/// </summary>
public sealed class SagaTransaction(NpgsqlDataSource dataSource) : IAsyncDisposable
{
    private NpgsqlConnection? connection;
    private NpgsqlTransaction? transaction;

    public NpgsqlConnection Connection =>
        connection ?? throw new InvalidOperationException("The saga's transaction is not open: the saga repository opens it for each message.");

    public NpgsqlTransaction Transaction =>
        transaction ?? throw new InvalidOperationException("The saga's transaction is not open: the saga repository opens it for each message.");

    public async Task BeginAsync(CancellationToken cancellationToken)
    {
        await EndAsync();
        connection = await dataSource.OpenConnectionAsync(cancellationToken);
        transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
    }

    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        await Transaction.CommitAsync(cancellationToken);
        await EndAsync();
    }

    public async Task RollbackAsync()
    {
        try
        {
            if (transaction is not null && connection is { State: ConnectionState.Open })
            {
                await transaction.RollbackAsync(CancellationToken.None);
            }
        }
        finally
        {
            await EndAsync();
        }
    }

    /// <summary>A command in the transaction (which must be open), prepared when <paramref name="prepare"/>: planned once per connection.</summary>
    public async Task<NpgsqlCommand> CommandAsync(string sql, bool prepare, CancellationToken cancellationToken, Action<NpgsqlCommand>? parameters = null)
    {
        var command = new NpgsqlCommand(sql, Connection, Transaction);
        parameters?.Invoke(command);
        if (prepare)
        {
            await command.PrepareAsync(cancellationToken);
        }

        return command;
    }

    public async ValueTask DisposeAsync() => await RollbackAsync();

    private async Task EndAsync()
    {
        if (transaction is not null)
        {
            await transaction.DisposeAsync();
            transaction = null;
        }

        if (connection is not null)
        {
            await connection.DisposeAsync();
            connection = null;
        }
    }
}
