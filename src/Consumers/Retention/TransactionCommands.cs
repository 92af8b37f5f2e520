using Npgsql;

namespace RunSaga.Consumers.Retention;

/// <summary>One statement with named parameters, in the caller's transaction (locks, deletes, updates of retention).</summary>
internal static class TransactionCommands
{
    /// <summary>
    /// Retention's statements read, delete or restore whole runs (a million staged rows is a normal run), and may wait
    /// for a run's or a source's lock: they get half an hour, not Npgsql's default 30 seconds.
    /// </summary>
    public const int TimeoutSeconds = 1800;

    public static async Task ExecuteAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction) { CommandTimeout = TimeoutSeconds };
        foreach (var (name, value) in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter(name, value));
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
