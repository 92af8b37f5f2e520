using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;

namespace RunSaga.Consumers.Retention;

/// <summary>
/// The policy of a retention cycle for run artifacts: which runs of a source are due for archival (ARCHIVE_AFTER_DAYS)
/// and deletion (DELETE_AFTER_DAYS, FAILED_DELETE_AFTER_DAYS), at most RETENTION_BATCH_RUNS of each per cycle, and whose
/// archive has been in the trash past TRASH_KEEP_DAYS. <see cref="RunArtifacts"/> carries out each run's part.
/// </summary>
public sealed class ArtifactCycle(
    NpgsqlDataSource dataSource, RunArtifacts artifacts, ArchiveFolder folder, IOptions<RetentionOptions> options, TimeProvider clock,
    ILogger<ArtifactCycle> logger)
{
    private RetentionOptions Options => options.Value;
    private DateTime Now => clock.GetUtcNow().UtcDateTime;
    private string More => $"; more are due than RETENTION_BATCH_RUNS={Options.BatchRuns}, the next message continues";

    /// <summary>The artifact phases of a cycle for one source (null: the runs without one, and run ids never named).</summary>
    public ArtifactPhases PhasesFor(string? source, bool dryRun) => new(
        (progress, cancellationToken) => ArchiveDueAsync(source, dryRun, progress, cancellationToken),
        async (connection, transaction, progress, cancellationToken) =>
        {
            var deleted = new List<ArtifactResult>();
            var deletion = new ArtifactDeletion(
                Committed: () => deleted.ForEach(artifacts.Deleted),
                RolledBack: () => deleted.ForEach(artifacts.RolledBack));
            IReadOnlyList<(Guid RunId, string Path)> purged;
            try
            {
                await DeleteDueAsync(connection, transaction, source, dryRun, progress, deleted, cancellationToken);
                purged = dryRun ? [] : await PurgeTrashAsync(connection, transaction, source, cancellationToken);
            }
            catch
            {
                deletion.RolledBack(); // the transaction will roll back: the files moved so far go back
                throw;
            }

            return deletion with
            {
                Committed = () =>
                {
                    deletion.Committed();
                    foreach (var (runId, path) in purged)
                    {
                        PurgeFile(runId, source, path);
                    }
                },
            };
        });

    /// <summary>
    /// Archives up to RETENTION_BATCH_RUNS due runs of the source, oldest first, each in its own transaction. The first
    /// error stops the cycle (runs archived before it stay archived: their rows are in verified files). A dry run counts.
    /// </summary>
    public async Task ArchiveDueAsync(string? source, bool dryRun, ArtifactProgress progress, CancellationToken cancellationToken)
    {
        if (dryRun)
        {
            progress.Archived = (await DueAsync(ArtifactSql.ArchiveDue, source, int.MaxValue, cancellationToken)).Count;
            return;
        }

        var due = await DueAsync(ArtifactSql.ArchiveDue, source, Options.BatchRuns, cancellationToken);
        foreach (var runId in due)
        {
            ArtifactResult result;
            try
            {
                result = await artifacts.ArchiveAsync(runId, manual: false, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new InvalidOperationException(
                    $"archiving run {runId} failed, so the cycle stopped there and deleted nothing (the run keeps its staging rows): {ex.Message}", ex);
            }

            artifacts.Log(result);
            progress.Archived += result.Outcome == ArtifactOutcome.Archived ? 1 : 0;
        }

        progress.MoreDue |= due.Count == Options.BatchRuns;
        if (due.Count > 0)
        {
            logger.LogInformation("Run artifacts of {Scope}: {Archived} runs archived{More}", source ?? "runs without a source", progress.Archived, More);
        }
    }

    /// <summary>
    /// Deletes up to RETENTION_BATCH_RUNS due runs of the source inside the cycle's transaction (so a cycle that fails
    /// later, in pruning, deletes none of them) and, for the runs without a source, the staging of run ids never named.
    /// Adds the deleted runs to <paramref name="deleted"/> as it goes (their files are in the trash already: if the
    /// transaction rolls back they go back). A dry run counts.
    /// </summary>
    public async Task DeleteDueAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string? source, bool dryRun, ArtifactProgress progress,
        List<ArtifactResult> deleted, CancellationToken cancellationToken)
    {
        if (dryRun)
        {
            progress.Deleted = (await DueAsync(ArtifactSql.DeleteDue, source, int.MaxValue, cancellationToken)).Count
                + (source is null ? (await DueAsync(ArtifactSql.OrphansDue, null, int.MaxValue, cancellationToken)).Count : 0);
            return;
        }

        var due = await DueAsync(ArtifactSql.DeleteDue, source, Options.BatchRuns, cancellationToken);
        foreach (var runId in due)
        {
            var result = await artifacts.DeleteInAsync(connection, transaction, runId, reason: null, "retention", manual: false, cancellationToken);
            if (result.Outcome == ArtifactOutcome.Deleted)
            {
                deleted.Add(result);
            }
        }

        var orphans = source is null ? await DueAsync(ArtifactSql.OrphansDue, null, Options.BatchRuns, cancellationToken) : [];
        foreach (var runId in orphans)
        {
            if (await artifacts.DeleteOrphanInAsync(connection, transaction, runId, cancellationToken) is { } result)
            {
                deleted.Add(result);
            }
        }

        progress.Deleted = deleted.Count;
        progress.MoreDue |= due.Count == Options.BatchRuns || orphans.Count == Options.BatchRuns;
    }

    /// <summary>
    /// Soft-deleted runs of the source whose archive has been in the trash longer than TRASH_KEEP_DAYS: a
    /// <c>trash-purged</c> audit row each, in the cycle's transaction, under the run's artifact lock and checked again
    /// there (so two cycles never purge the same run, and an undeletion either came first or is refused after); their
    /// files leave the trash once it committed.
    /// </summary>
    private async Task<IReadOnlyList<(Guid RunId, string Path)>> PurgeTrashAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string? source, CancellationToken cancellationToken)
    {
        var due = new List<(Guid, string)>();
        await using (var command = new NpgsqlCommand(ArtifactSql.TrashDue, connection, transaction))
        {
            command.Parameters.Add(new("source", NpgsqlDbType.Text) { Value = (object?)source ?? DBNull.Value });
            command.Parameters.Add(new("trash_cutoff", Now - Options.TrashKeep));
            command.Parameters.Add(new("limit", Options.BatchRuns));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                due.Add((reader.GetGuid(0), reader.GetString(1)));
            }
        }

        var purged = new List<(Guid, string)>();
        foreach (var (runId, path) in due)
        {
            await TransactionCommands.ExecuteAsync(connection, transaction, AdvisoryLocks.LockRunArtifacts, cancellationToken, ("run", runId));
            await using var audit = new NpgsqlCommand(ArtifactSql.AuditTrashPurge, connection, transaction)
            {
                Parameters =
                {
                    new("run", runId), new("action", "trash-purged"),
                    new("reason", FormattableString.Invariant($"retention: in the trash more than TRASH_KEEP_DAYS={Options.TrashKeepDays} days")),
                    new("requested_by", "retention"), new("published_by", DBNull.Value), new("now", Now),
                    new("trash_cutoff", Now - Options.TrashKeep),
                },
            };
            if (await audit.ExecuteNonQueryAsync(cancellationToken) == 1)
            {
                purged.Add((runId, path));
            }
        }

        return purged;
    }

    private void PurgeFile(Guid runId, string? source, string relative)
    {
        folder.DeleteFromTrash(runId, source, relative);

        using var scope = RunLogScope.Begin(runId, source);
        logger.LogInformation("Archive {ArchivePath} of the deleted run purged from the trash (TRASH_KEEP_DAYS={TrashKeepDays}); it can no longer be undeleted",
            relative, Options.TrashKeepDays);
    }

    private async Task<IReadOnlyList<Guid>> DueAsync(string sql, string? source, int limit, CancellationToken cancellationToken)
    {
        var now = Now;
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.Add(new("source", NpgsqlDbType.Text) { Value = (object?)source ?? DBNull.Value });
        command.Parameters.Add(new("now", now));
        command.Parameters.Add(new("archive_cutoff", now - Options.ArchiveAfter));
        command.Parameters.Add(new("delete_cutoff", now - Options.DeleteAfter));
        command.Parameters.Add(new("failed_delete_cutoff", now - Options.FailedDeleteAfter));
        command.Parameters.Add(new("limit", limit));
        var runs = new List<Guid>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            runs.Add(reader.GetGuid(0));
        }

        return runs;
    }
}
