using System.Data;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;

using RunSaga.Shared.Messaging.Outbox;

namespace RunSaga.Consumers.Retention;

/// <summary>What a retention cycle for one source did, or (dry run) would do.</summary>
/// <param name="Outcome">How the cycle ended.</param>
/// <param name="AppliedBy">The newest completed full run of the source, named in the <c>deleted</c> lineage rows.</param>
/// <param name="SampleKeys">The first keys deleted (or, dry run, that would be).</param>
/// <remarks>
/// <see cref="Outcome"/> is pruning's; <see cref="RunsArchived"/> and <see cref="RunsDeleted"/> count the run artifacts
/// the same cycle archived and deleted (would, in a dry run), and <see cref="MoreDue"/> says more were due than one
/// cycle handles (RETENTION_BATCH_RUNS).
/// </remarks>
public sealed record PruneResult(
    long CycleId,
    string? Source,
    CycleOutcome Outcome,
    Guid? AppliedBy,
    int ProjectsDeleted,
    IReadOnlyList<string> SampleKeys,
    string? Reason,
    Guid? WithheldBy = null)
{
    public int RunsArchived { get; init; }
    public int RunsDeleted { get; init; }
    public bool MoreDue { get; init; }
}

/// <summary>What the artifact phase of a cycle has done so far; kept when the cycle fails halfway.</summary>
public sealed class ArtifactProgress
{
    public int Archived { get; set; }
    public int Deleted { get; set; }
    public bool MoreDue { get; set; }
}

/// <summary>
/// Prunes the items of one source that none of its last KEEP_RUNS completed full runs saw, in one transaction
/// under the source's lock, and records the cycle. It prunes nothing while the source has fewer than KEEP_RUNS
/// completed full runs, while its newest run failed or is still open, or while retention is withheld because a
/// completed full run staged fewer than MIN_RUN_RATIO of the previous one's items. A dry run decides the same
/// way and changes nothing. Any error rolls the cycle back: it is recorded as failed and nothing is deleted.
/// </summary>
public sealed class SourcePruner(
    NpgsqlDataSource dataSource, IOptions<RetentionOptions> options, TimeProvider clock, CrashPoint? crashPoint = null)
{
    public async Task<IReadOnlyList<string?>> SourcesAsync(CancellationToken cancellationToken)
    {
        var sources = new List<string?>();
        await using var command = dataSource.CreateCommand(RetentionSql.Sources);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            sources.Add(reader.IsDBNull(0) ? null : reader.GetString(0));
        }

        return sources;
    }

    /// <summary>A cycle that only prunes (after a completed run).</summary>
    public Task<PruneResult> PruneAsync(
        string source, string trigger, Guid? triggeringRun, bool dryRun, CancellationToken cancellationToken, string? publishedBy = null) =>
        RunCycleAsync(source, trigger, triggeringRun, dryRun, artifacts: null, cancellationToken, publishedBy: publishedBy);

    /// <summary>
    /// One recorded cycle: first the archival phase of <paramref name="artifacts"/> (a transaction per run), then in
    /// one transaction its deletion phase and, for a named source, pruning. An error anywhere stops the cycle there:
    /// it is recorded as failed and deletes nothing — no run artifacts, no items (runs archived before the error
    /// stay archived: their rows are in verified files).
    /// A null <paramref name="source"/> stands for the runs no event named a source: they have artifacts, no items.
    /// </summary>
    /// <param name="requestedBy">Who the triggering message says asked (the API puts the calling key's name there).</param>
    /// <param name="publishedBy">The broker user RabbitMQ vouches published the triggering message.</param>
    public async Task<PruneResult> RunCycleAsync(
        string? source, string trigger, Guid? triggeringRun, bool dryRun, ArtifactPhases? artifacts, CancellationToken cancellationToken,
        string? requestedBy = null, string? publishedBy = null)
    {
        var cycleId = await StartCycleAsync(source, trigger, triggeringRun, dryRun, requestedBy, publishedBy, cancellationToken);
        var progress = new ArtifactProgress();
        ArtifactDeletion? deletion = null;
        try
        {
            if (artifacts is not null)
            {
                await artifacts.ArchiveAsync(progress, cancellationToken);
            }

            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
            deletion = artifacts is null ? null : await artifacts.DeleteAsync(connection, transaction, progress, cancellationToken);
            PruneResult result;
            if (source is null)
            {
                result = new PruneResult(cycleId, null, CycleOutcome.Succeeded, null, 0, [], null);
            }
            else
            {
                await TransactionCommands.ExecuteAsync(connection, transaction, AdvisoryLocks.LockSource, cancellationToken, ("source", source));
                result = await DecideAndPruneAsync(connection, transaction, cycleId, source, dryRun, cancellationToken);
            }

            result = result with { RunsArchived = progress.Archived, RunsDeleted = progress.Deleted, MoreDue = progress.MoreDue };
            await FinishCycleAsync(connection, transaction, result, dryRun, error: null, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            crashPoint?.Reached("retention-committed", source);
            var committed = deletion;
            deletion = null;
            committed?.Committed();
            return result;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Deletions and pruning shared the rolled-back transaction: only archivals (rows now in verified files) stay,
            // and the deleted runs' files come back out of the trash.
            deletion?.RolledBack();
            var failed = new PruneResult(cycleId, source, CycleOutcome.Failed, null, 0, [], ex.Message) { RunsArchived = progress.Archived };
            await using var connection = await dataSource.OpenConnectionAsync(CancellationToken.None);
            await using var transaction = await connection.BeginTransactionAsync(CancellationToken.None);
            await FinishCycleAsync(connection, transaction, failed, dryRun, ex.ToString(), CancellationToken.None);
            await transaction.CommitAsync(CancellationToken.None);
            return failed;
        }
    }

    public async Task ReleaseAsync(string source, string? releasedBy, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        await TransactionCommands.ExecuteAsync(connection, transaction, AdvisoryLocks.LockSource, cancellationToken, ("source", source));
        await using (var release = new NpgsqlCommand(RetentionSql.Release, connection, transaction))
        {
            release.Parameters.Add(new("source", source));
            release.Parameters.Add(new("released_by", NpgsqlDbType.Text) { Value = (object?)releasedBy ?? DBNull.Value });
            await release.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    private async Task<PruneResult> DecideAndPruneAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long cycleId, string source, bool dryRun, CancellationToken cancellationToken)
    {
        PruneResult Skip(string reason, Guid? appliedBy = null) => new(cycleId, source, CycleOutcome.Skipped, appliedBy, 0, [], reason);

        var (latestId, latestStatus) = await LatestRunAsync(connection, transaction, source, cancellationToken);
        if (latestId is null)
        {
            return Skip("the source has no runs");
        }

        if (latestStatus != RunStatus.Completed)
        {
            return Skip($"the newest run of the source ({latestId}) is {latestStatus}; retention waits for a completed run");
        }

        var fullRuns = await CompletedFullRunsAsync(connection, transaction, source, cancellationToken);
        var appliedBy = fullRuns.Count > 0 ? fullRuns[0].RunId : (Guid?)null;

        if (await SuspiciousRunAsync(connection, transaction, source, fullRuns, cancellationToken) is { } suspicious)
        {
            if (!dryRun)
            {
                await TransactionCommands.ExecuteAsync(connection, transaction, RetentionSql.Withhold, cancellationToken,
                    ("source", source), ("run", suspicious.RunId), ("now", Now), ("reason", suspicious.Reason));
            }

            return new PruneResult(cycleId, source, CycleOutcome.Withheld, appliedBy, 0, [], suspicious.Reason, suspicious.RunId);
        }

        var keepRuns = options.Value.KeepRuns;
        if (fullRuns.Count < keepRuns)
        {
            return Skip($"the source has {fullRuns.Count} completed full runs; pruning starts at KEEP_RUNS={keepRuns}", appliedBy);
        }

        var cutoff = fullRuns[keepRuns - 1].PromotedAt;
        var (count, sample) = await CountOrDeleteAsync(
            connection, transaction, dryRun ? RetentionSql.CountStale : RetentionSql.DeleteStale, source, appliedBy!.Value, cutoff, cancellationToken);
        if (!dryRun && count > 0)
        {
            await TransactionCommands.ExecuteAsync(connection, transaction, RetentionSql.RecountDeleted, cancellationToken, ("run", appliedBy.Value));
        }

        return new PruneResult(cycleId, source, CycleOutcome.Succeeded, appliedBy, count, sample, null);
    }

    /// <summary>
    /// A completed full run (not exempted by a release) that staged fewer than MIN_RUN_RATIO of the items of the
    /// full run before it; or the standing withhold of the source.
    /// </summary>
    private async Task<(Guid RunId, string Reason)?> SuspiciousRunAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string source, IReadOnlyList<FullRun> fullRuns, CancellationToken cancellationToken)
    {
        bool withheld = false;
        DateTime? releasedAt = null;
        Guid? withheldBy = null;
        await using (var command = new NpgsqlCommand(RetentionSql.SourceStanding, connection, transaction) { Parameters = { new("source", source) } })
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                withheld = reader.GetBoolean(0);
                releasedAt = reader.IsDBNull(1) ? null : reader.GetDateTime(1);
                withheldBy = reader.IsDBNull(2) ? null : reader.GetGuid(2);
            }
        }

        var ratio = options.Value.MinRunRatio;
        for (var i = 0; i + 1 < fullRuns.Count; i++)
        {
            var (newer, older) = (fullRuns[i], fullRuns[i + 1]);
            if (releasedAt is { } released && newer.PromotedAt <= released)
            {
                break;
            }

            if (newer.StagedItems < ratio * older.StagedItems)
            {
                var reason = FormattableString.Invariant(
                    $"run {newer.RunId} staged {newer.StagedItems} items, fewer than MIN_RUN_RATIO={ratio} of the {older.StagedItems} of the run before it ({older.RunId})");
                return (newer.RunId, $"{reason}; retention for '{source}' is withheld until an operator checks that run and sends ReleaseRetention for the source");
            }
        }

        // The standing withhold outlives the runs that caused it (they may be gone from the ledger one day).
        return withheld
            ? (withheldBy ?? Guid.Empty, $"retention for '{source}' is withheld (run {withheldBy}) until an operator sends ReleaseRetention")
            : null;
    }

    private static async Task<(Guid?, string?)> LatestRunAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string source, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(RetentionSql.LatestRun, connection, transaction) { Parameters = { new("source", source) } };
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetGuid(0), reader.GetString(1)) : (null, null);
    }

    private sealed record FullRun(Guid RunId, int StagedItems, DateTime PromotedAt);

    private static async Task<List<FullRun>> CompletedFullRunsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string source, CancellationToken cancellationToken)
    {
        var runs = new List<FullRun>();
        await using var command = new NpgsqlCommand(RetentionSql.CompletedFullRuns, connection, transaction) { Parameters = { new("source", source) } };
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            runs.Add(new FullRun(reader.GetGuid(0), reader.GetInt32(1), reader.GetDateTime(2)));
        }

        return runs;
    }

    private async Task<(int Count, string[] Sample)> CountOrDeleteAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, string source, Guid appliedBy, DateTime cutoff, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction)
        {
            Parameters = { new("source", source), new("cutoff", cutoff), new("run", appliedBy), new("now", Now) },
        };
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt32(0), reader.GetFieldValue<string[]>(1));
    }

    private async Task<long> StartCycleAsync(
        string? source, string trigger, Guid? run, bool dryRun, string? requestedBy, string? publishedBy, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(RetentionSql.StartCycle);
        command.Parameters.Add(new("requested_by", NpgsqlDbType.Text) { Value = (object?)requestedBy ?? DBNull.Value });
        command.Parameters.Add(new("published_by", NpgsqlDbType.Text) { Value = (object?)publishedBy ?? DBNull.Value });
        command.Parameters.Add(new("source", NpgsqlDbType.Text) { Value = (object?)source ?? DBNull.Value });
        command.Parameters.Add(new("trigger", trigger));
        command.Parameters.Add(new("run", NpgsqlDbType.Uuid) { Value = (object?)run ?? DBNull.Value });
        command.Parameters.Add(new("dry_run", dryRun));
        command.Parameters.Add(new("now", Now));
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// Records the cycle's outcome and, in the same transaction, the events that announce it (the outbox: they are
    /// published once this commits, by whichever host's dispatcher, and never lost with this process).
    /// </summary>
    private async Task FinishCycleAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, PruneResult result, bool dryRun, string? error, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(RetentionSql.FinishCycle, connection, transaction)
        {
            Parameters =
            {
                new("id", result.CycleId),
                new("now", Now),
                new("outcome", result.Outcome.DbName()),
                new("deleted", result.ProjectsDeleted),
                new("archived", result.RunsArchived),
                new("runs_deleted", result.RunsDeleted),
                new("reason", NpgsqlDbType.Text) { Value = (object?)result.Reason ?? DBNull.Value },
                new("error", NpgsqlDbType.Text) { Value = (object?)error ?? DBNull.Value },
                new("sample_keys", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = result.SampleKeys.ToArray() },
                new("run", NpgsqlDbType.Uuid) { Value = (object?)result.AppliedBy ?? DBNull.Value },
            },
        };
        await command.ExecuteNonQueryAsync(cancellationToken);
        await OutboxEntry.WriteAsync(connection, transaction, RetentionEvents.Of(result, dryRun), notify: true, cancellationToken);
    }
}
