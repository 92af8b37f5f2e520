using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;

namespace RunSaga.Consumers.Lineage;

/// <summary>A run's lineage summary.</summary>
/// <param name="AlreadyStamped">The summary was recorded before; this is the recorded one.</param>
public sealed record LineageSummary(
    int Discovered,
    int Updated,
    int Deleted,
    int Errored,
    int Unchanged,
    IReadOnlyList<string> BatchIds,
    bool AlreadyStamped);

/// <summary>Records a promoted run's lineage summary once; a repeat returns the recorded one.</summary>
public sealed class LineageStamper(NpgsqlDataSource dataSource, IOptions<RunSagaOptions> options)
{
    public async Task<LineageSummary> StampAsync(Guid runId, string? source, string? processType, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);

        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            LineageSummary? fresh = null;
            await using (var stamp = StampCommand(connection, transaction, runId, source, processType, options.Value))
            {
                await using var reader = await stamp.ExecuteReaderAsync(cancellationToken);
                if (await reader.ReadAsync(cancellationToken))
                {
                    fresh = Read(reader, alreadyStamped: false);
                }
            }

            if (fresh is not null && options.Value.RunHistory)
            {
                await RunHistory.AppendAsync(connection, transaction, new RunHistoryEntry(runId, "lineage", "Lineage", "changed",
                    "lineage summary stamped (after a promotion that left it)"), prepare: false, cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            if (fresh is not null)
            {
                return fresh;
            }
        }

        await using var stamped = new NpgsqlCommand(LineageSql.Stamped, connection) { Parameters = { new("run", runId) } };
        await using (var reader = await stamped.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                return Read(reader, alreadyStamped: true);
            }
        }

        throw new InvalidOperationException(
            $"Run {runId} has no row in runsaga.run_promotions, so its lineage cannot be stamped. StampLineage must follow "
            + "ProjectsUpserted; check the run in runsaga.runs and resend PromoteRun if its promotion was lost.");
    }

    /// <summary>The summary's insert (<see cref="LineageSql.Stamp"/>), also run by the promotion in its own transaction.</summary>
    public static NpgsqlCommand StampCommand(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid runId, string? source, string? processType, RunSagaOptions options) =>
        new(LineageSql.Stamp, connection, transaction)
        {
            Parameters =
            {
                new("run", runId),
                new("source", NpgsqlDbType.Text) { Value = source ?? string.Empty },
                new("process_type", NpgsqlDbType.Text) { Value = ProcessType.OrDefault(processType) },
            },
            CommandTimeout = (int)options.PromotionTimeout.TotalSeconds,
        };

    private static LineageSummary Read(NpgsqlDataReader reader, bool alreadyStamped) => new(
        reader.GetInt32(0),
        reader.GetInt32(1),
        reader.GetInt32(2),
        reader.GetInt32(3),
        reader.GetInt32(4),
        reader.GetFieldValue<string[]>(5),
        alreadyStamped);
}
