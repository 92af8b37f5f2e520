using System.Data;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;

namespace RunSaga.Consumers.Retention;

/// <summary>
/// What can happen to one finished run's artifacts (its staged items and batches), for a retention cycle
/// (<see cref="ArtifactCycle"/> decides which runs are due) and for an operator's commands: archive to a verified file
/// and empty staging; delete (staging, and with <c>hard</c> the row; a soft deletion's file goes to the trash) leaving a
/// <c>run_audit</c> row; undelete a soft-deleted run while its file is in the trash; restore an archive back into
/// staging; pin. Every operation on a run holds <c>AdvisoryLocks.LockRunArtifacts</c> (which staging shares) and the
/// run's row lock, so two cycles, a late batch and an operator's command never cross. The files are
/// <see cref="ArchiveFolder"/>'s, the SQL <see cref="ArtifactSql"/>'s.
/// </summary>
public sealed class RunArtifacts(
    NpgsqlDataSource dataSource, ArchiveFolder folder, IOptions<RetentionOptions> options, TimeProvider clock, ILogger<RunArtifacts> logger)
{
    private RetentionOptions Options => options.Value;
    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    /// <summary>One line per run, under the run's id and source.</summary>
    public void Log(ArtifactResult result)
    {
        using var scope = RunLogScope.Begin(result.RunId, result.Source);
        switch (result.Outcome)
        {
            case ArtifactOutcome.Archived:
                logger.LogInformation("Run archived to {ArchivePath} ({Items} items, {Batches} batches); its staging rows are deleted",
                    result.ArchivePath, result.Items, result.Batches);
                break;
            case ArtifactOutcome.Deleted:
                logger.LogInformation("Run artifacts deleted ({Detail}); runsaga.run_audit keeps its summary", result.Detail);
                break;
            case ArtifactOutcome.Restored:
                logger.LogInformation("Run restored from {ArchivePath} into staging ({Items} items, {Batches} batches), read-only",
                    result.ArchivePath, result.Items, result.Batches);
                break;
            case ArtifactOutcome.Undeleted:
                logger.LogInformation("Run undeleted: its archive {ArchivePath} is back from the trash; RestoreRun brings its items back", result.ArchivePath);
                break;
            default:
                logger.LogInformation("Run artifacts left as they are: {Reason}", result.Detail);
                break;
        }
    }

    /// <summary>
    /// Writes the run's archive, flushes it (and its folder) to disk, reads it back and compares it with what was
    /// read from staging; only then records it on the run and deletes the staging rows, in the transaction that
    /// holds the run's locks. A file another run's row points at is never written; neither is the file this run's
    /// row points at (a restored run whose rows still match it keeps it; otherwise the new file gets a new name and
    /// the old one goes after the commit). A crash before the commit leaves the rows, after it the verified file.
    /// </summary>
    /// <param name="manual">An operator's ArchiveRun: archived whatever its age; refusals throw.</param>
    /// <param name="sentAt">
    /// When the operator's command was sent (its envelope's <c>sentTime</c>), if it says. A command sent before the run
    /// was restored is stale (a redelivery, or one that waited in the queue) and is refused: it must not undo the
    /// restore an operator asked for after it.
    /// </param>
    public async Task<ArtifactResult> ArchiveAsync(Guid runId, bool manual, CancellationToken cancellationToken, DateTime? sentAt = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        var row = await LockAsync(connection, transaction, runId, cancellationToken);
        if (Refusal(row, runId, "archived") is { } refusal)
        {
            return Refuse(runId, row?.Source, refusal, manual);
        }

        if (sentAt is { } sent && row!.RestoredAt is { } restoredAt && sent < restoredAt)
        {
            return Refuse(runId, row.Source,
                $"the command was sent at {sent:u}, before the run was restored at {restoredAt:u}, and is not carried out: a stale "
                + "ArchiveRun does not undo a later restore. Send ArchiveRun again to archive the run now", manual);
        }

        if (row!.ArchivedAt is { } archivedAt && row.RestoredAt is null)
        {
            return new ArtifactResult(runId, row.Source, ArtifactOutcome.Skipped, $"already archived at {archivedAt:u} ({row.ArchivePath})", row.ArchivePath);
        }

        if (!manual && row.RestoredAt is null && row.FinishedAt > Now - Options.ArchiveAfter)
        {
            return new ArtifactResult(runId, row.Source, ArtifactOutcome.Skipped, "no longer due");
        }

        var month = folder.MonthFolder(row.FolderName, row.CreatedAt);
        folder.Prepare(month, runId);
        var partial = ArchiveFolder.PartialFile(month, runId, ArchiveFile.Extension(Options.ArchiveCompression));
        var itemsFile = ArchiveFolder.PartialFile(month, runId, ".items.jsonl");
        var batchesFile = ArchiveFolder.PartialFile(month, runId, ".batches.jsonl");
        try
        {
            var items = await WriteLinesAsync(connection, transaction, ArtifactSql.ItemLines, runId, itemsFile, cancellationToken);
            var batches = await WriteLinesAsync(connection, transaction, ArtifactSql.BatchLines, runId, batchesFile, cancellationToken);

            string relative, sha256;
            if (KeepsCurrentArchive(row, items, batches))
            {
                (relative, sha256) = (row.ArchivePath!, row.ArchiveSha256!);
            }
            else
            {
                relative = await ChoosePathAsync(connection, transaction, runId, row, cancellationToken);
                ArchiveFile.Write(partial, Options.ArchiveCompression, row.Json, batchesFile, itemsFile, Now);
                var readBack = ArchiveFile.Read(partial);
                if (!readBack.HasRunJson || (readBack.Items, readBack.ItemsSha256, readBack.Batches, readBack.BatchesSha256) != (items.Lines, items.Sha256, batches.Lines, batches.Sha256))
                {
                    throw new InvalidDataException(
                        $"the archive {partial} read back differs from what was written ({readBack.Items} of {items.Lines} items); "
                        + "staging is kept. Check the disk under ARCHIVE_BASE_PATH");
                }

                sha256 = ArchiveFile.FileSha256(partial);
                File.Move(partial, folder.FullPath(relative), overwrite: true);
                DirectorySync.Flush(month);
            }

            await TransactionCommands.ExecuteAsync(connection, transaction, ArtifactSql.MarkArchived, cancellationToken,
                ("run", runId), ("now", Now), ("path", relative), ("sha256", sha256));
            await transaction.CommitAsync(cancellationToken);

            if (row.ArchivePath is { } previous && previous != relative)
            {
                folder.TryDelete(folder.FullPath(previous), runId, row.Source);
            }

            return new ArtifactResult(runId, row.Source, ArtifactOutcome.Archived, null, relative, items.Lines, batches.Lines);
        }
        finally
        {
            ArchiveFolder.RemovePartials(month, runId);
        }
    }

    /// <summary>
    /// Deletes the run's artifacts now (an operator's DeleteRun, or <paramref name="manual"/> false for tests of one
    /// run): the <c>run_audit</c> row and the rows in one transaction, then its files.
    /// </summary>
    /// <param name="reason">Null for a cycle's deletion: the knob that made it due.</param>
    /// <param name="publishedBy">The broker user RabbitMQ says published the command (its validated user_id), audited with the claimed <paramref name="requestedBy"/>.</param>
    public async Task<ArtifactResult> DeleteAsync(
        Guid runId, string? reason, string requestedBy, bool manual, CancellationToken cancellationToken, string? publishedBy = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        var result = await DeleteInAsync(connection, transaction, runId, reason, requestedBy, manual, cancellationToken, publishedBy);
        try
        {
            await transaction.CommitAsync(cancellationToken);
        }
        catch
        {
            RolledBack(result);
            throw;
        }

        Deleted(result);
        return result;
    }

    /// <summary>
    /// Unpacks the run's archive (checked against its recorded SHA-256) back into staging, read-only: the run stays
    /// archived, so no batch is staged into it, and the next cycle archives it again unless it is pinned. The lines
    /// stream from the archive into a binary COPY; nothing is unpacked to disk.
    /// </summary>
    public async Task<ArtifactResult> RestoreAsync(Guid runId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        var row = await LockAsync(connection, transaction, runId, cancellationToken)
            ?? throw new RetentionRefusedException($"run {runId} is not in the ledger (never known, or hard-deleted: see runsaga.run_audit)");
        if (row.DeletedAt is { } deletedAt)
        {
            throw new RetentionRefusedException(
                $"run {runId} was deleted at {deletedAt:u} ({row.DeletionReason}); its archive is gone. runsaga.run_audit keeps its summary");
        }

        if (row.ArchivedAt is null || row.ArchivePath is null)
        {
            throw new RetentionRefusedException($"run {runId} is not archived; its items are still in runsaga.staged_items");
        }

        var file = folder.FullPath(row.ArchivePath);
        if (!File.Exists(file) && File.Exists(folder.TrashPath(runId, row.ArchivePath)))
        {
            // A deletion moved it into the trash and then did not commit (a crash in between): the run still owns it.
            folder.MoveBack(runId, row.ArchivePath);
        }

        if (!File.Exists(file))
        {
            throw new RetentionRefusedException($"the archive of run {runId} is missing: {file}. Restore the file from backup and send RestoreRun again");
        }

        if (ArchiveFile.FileSha256(file) != row.ArchiveSha256)
        {
            throw new RetentionRefusedException(
                $"the archive of run {runId} ({file}) does not match the SHA-256 recorded when it was written; it was changed or damaged. Nothing restored");
        }

        await TransactionCommands.ExecuteAsync(connection, transaction, ArtifactSql.CreateRestoreTable, cancellationToken);
        var (items, batches) = (0, 0);
        await using (var importer = await connection.BeginBinaryImportAsync(ArtifactSql.CopyRestoreLines, cancellationToken))
        {
            importer.Timeout = TimeSpan.FromSeconds(TransactionCommands.TimeoutSeconds);
            ArchiveFile.ReadLines(file, (entry, line) =>
            {
                importer.StartRow();
                importer.Write(entry, NpgsqlDbType.Text);
                importer.Write(line, NpgsqlDbType.Text);
                _ = entry == "items" ? items++ : batches++;
            });
            await importer.CompleteAsync(cancellationToken);
        }

        await TransactionCommands.ExecuteAsync(connection, transaction, ArtifactSql.RestoreRows, cancellationToken, ("run", runId), ("now", Now));
        await transaction.CommitAsync(cancellationToken);
        return new ArtifactResult(runId, row.Source, ArtifactOutcome.Restored, null, row.ArchivePath, items, batches);
    }

    /// <summary>
    /// After the deleting transaction committed: a hard deletion's file leaves the trash for good (a soft deletion's
    /// stays there for UndeleteRun until TRASH_KEEP_DAYS have passed); partial files go either way; a line for the run.
    /// </summary>
    public void Deleted(ArtifactResult result)
    {
        if (result.Outcome != ArtifactOutcome.Deleted)
        {
            return;
        }

        if (result.ArchivePath is { } path && result.Detail == "hard")
        {
            folder.DeleteFromTrash(result.RunId, result.Source, path);
        }

        if (result.Leftovers is { } leftovers)
        {
            ArchiveFolder.RemovePartials(leftovers, result.RunId);
        }

        Log(result);
    }

    /// <summary>The deleting transaction rolled back: the file goes back where the run's row still says it is.</summary>
    public void RolledBack(ArtifactResult result)
    {
        if (result is { Outcome: ArtifactOutcome.Deleted, ArchivePath: { } path })
        {
            folder.TryMoveBack(result.RunId, result.Source, path);
        }
    }

    /// <summary>
    /// Brings a soft-deleted run back while its archive is in the trash: the file (checked against the SHA-256 recorded
    /// when it was written) returns to its place, the run is archived again (RestoreRun then brings its items back into
    /// staging) and pinned for DELETE_AFTER_DAYS, so the next cycle does not delete it again at once; a <c>run_audit</c>
    /// row says who did it. Refused, saying why, for a run that is not deleted, was hard-deleted, was deleted before it
    /// was ever archived, or whose file the trash no longer holds.
    /// </summary>
    public async Task<ArtifactResult> UndeleteAsync(Guid runId, string requestedBy, CancellationToken cancellationToken, string? publishedBy = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        var row = await LockAsync(connection, transaction, runId, cancellationToken)
            ?? throw new RetentionRefusedException(
                $"run {runId} is not in the ledger: a hard-deleted run cannot be undeleted (runsaga.run_audit keeps its summary)");
        if (row.DeletedAt is null)
        {
            throw new RetentionRefusedException($"run {runId} is not deleted; nothing to undelete");
        }

        var (archivePath, sha256, purged) = await DeletedArchiveAsync(connection, transaction, runId, cancellationToken);
        if (archivePath is null || sha256 is null)
        {
            throw new RetentionRefusedException(
                $"run {runId} was deleted before it was ever archived: its items are gone and there is nothing to bring back");
        }

        var file = folder.TrashPath(runId, archivePath);
        if (purged || !File.Exists(file))
        {
            throw new RetentionRefusedException(
                $"the archive of run {runId} is no longer in the trash ({file}): "
                + (purged ? $"it was purged after TRASH_KEEP_DAYS={Options.TrashKeepDays} days" : "it was removed by hand")
                + "; the run cannot be undeleted");
        }

        if (ArchiveFile.FileSha256(file) != sha256)
        {
            throw new RetentionRefusedException(
                $"the archive of run {runId} in the trash ({file}) does not match the SHA-256 recorded when it was written; nothing undeleted");
        }

        await using (var taken = new NpgsqlCommand(ArtifactSql.PathTaken, connection, transaction) { Parameters = { new("path", archivePath), new("run", runId) } })
        {
            if ((bool)(await taken.ExecuteScalarAsync(cancellationToken))! || File.Exists(folder.FullPath(archivePath)))
            {
                throw new RetentionRefusedException(
                    $"another run's archive now has the name {archivePath}; copy {file} elsewhere by hand to keep it. Nothing undeleted");
            }
        }

        await TransactionCommands.ExecuteAsync(connection, transaction, ArtifactSql.Audit, cancellationToken,
            ("run", runId), ("action", "undeleted"), ("reason", $"undeleted by {requestedBy}"), ("requested_by", requestedBy),
            ("published_by", (object?)publishedBy ?? DBNull.Value), ("now", Now));
        await TransactionCommands.ExecuteAsync(connection, transaction, ArtifactSql.Undelete, cancellationToken,
            ("run", runId), ("path", archivePath), ("sha256", sha256), ("pinned_until", Now + Options.DeleteAfter));

        // The file goes back before the commit, while this run's row is locked; if the commit fails it returns to the trash.
        folder.MoveBack(runId, archivePath);
        try
        {
            await transaction.CommitAsync(cancellationToken);
        }
        catch
        {
            folder.MoveToTrash(runId, archivePath);
            throw;
        }

        return new ArtifactResult(runId, row.Source, ArtifactOutcome.Undeleted, null, archivePath);
    }

    /// <summary>The archive path and SHA-256 the run had when it was soft-deleted (its newest <c>deleted</c> audit row).</summary>
    private static async Task<(string? Path, string? Sha256, bool Purged)> DeletedArchiveAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ArtifactSql.DeletedArchive, connection, transaction) { Parameters = { new("run", runId) } };
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? (reader.IsDBNull(0) ? null : reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetBoolean(2))
            : (null, null, false);
    }

    /// <summary>Sets (or, with a past or null moment, clears) the run's pin. Returns the run's source.</summary>
    public async Task<string?> PinAsync(Guid runId, DateTimeOffset? until, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ArtifactSql.Pin);
        command.Parameters.Add(new("run", runId));
        command.Parameters.Add(new("until", NpgsqlDbType.TimestampTz) { Value = (object?)until?.UtcDateTime ?? DBNull.Value });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new RetentionRefusedException($"run {runId} is not in the ledger; nothing pinned");
        }

        return reader.IsDBNull(0) ? null : reader.GetString(0);
    }

    private sealed record RunRow(
        string Status, string? Source, string? FolderName, DateTime CreatedAt, DateTime FinishedAt, DateTime? ArchivedAt, string? ArchivePath,
        string? ArchiveSha256, DateTime? PinnedUntil, DateTime? RestoredAt, DateTime? DeletedAt, string? DeletionReason, string Json);

    /// <summary>The audit row, then the rows (soft or hard), in the caller's transaction; the files are the caller's.</summary>
    internal async Task<ArtifactResult> DeleteInAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, string? reason, string requestedBy, bool manual, CancellationToken cancellationToken,
        string? publishedBy = null)
    {
        var row = await LockAsync(connection, transaction, runId, cancellationToken);
        if (row is { DeletedAt: { } deletedAt })
        {
            return new ArtifactResult(runId, row.Source, ArtifactOutcome.Skipped, $"already deleted at {deletedAt:u}");
        }

        if (Refusal(row, runId, "deleted") is { } refusal)
        {
            return Refuse(runId, row?.Source, refusal, manual);
        }

        var deleteAfter = RunStatus.EndedUnfinished(row!.Status) ? Options.FailedDeleteAfter : Options.DeleteAfter;
        if (!manual && row.FinishedAt > Now - deleteAfter)
        {
            return new ArtifactResult(runId, row.Source, ArtifactOutcome.Skipped, "no longer due");
        }

        reason ??= RunStatus.EndedUnfinished(row.Status)
            ? FormattableString.Invariant($"retention: failed or cancelled more than FAILED_DELETE_AFTER_DAYS={Options.FailedDeleteAfter.TotalDays} days ago")
            : FormattableString.Invariant($"retention: completed more than DELETE_AFTER_DAYS={Options.DeleteAfterDays} days ago");
        var hard = Options.DeletionStrategy == "hard";
        await TransactionCommands.ExecuteAsync(connection, transaction, ArtifactSql.Audit, cancellationToken,
            ("run", runId), ("action", hard ? "hard-deleted" : "deleted"), ("reason", reason), ("requested_by", requestedBy),
            ("published_by", (object?)publishedBy ?? DBNull.Value), ("now", Now));
        await TransactionCommands.ExecuteAsync(connection, transaction, hard ? ArtifactSql.HardDelete : ArtifactSql.SoftDelete, cancellationToken,
            ("run", runId), ("now", Now), ("reason", reason));

        // Into the trash before the commit, while this run's row still claims the file's name: no archival of another run
        // can take the name and write over it in between. The caller moves it back if the transaction rolls back.
        if (row.ArchivePath is { } archived)
        {
            folder.MoveToTrash(runId, archived);
        }

        return new ArtifactResult(runId, row.Source, ArtifactOutcome.Deleted, hard ? "hard" : "soft", row.ArchivePath,
            Leftovers: folder.MonthFolder(row.FolderName, row.CreatedAt));
    }

    /// <summary>
    /// Staging rows of a run id no event ever named (no row in <c>runs</c>), last staged more than DELETE_AFTER_DAYS
    /// ago: deleted with a <c>run_audit</c> row (status <c>Unknown</c>) under the run's artifact lock, so a batch being
    /// staged meanwhile is waited for and keeps them.
    /// </summary>
    internal async Task<ArtifactResult?> DeleteOrphanInAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, CancellationToken cancellationToken)
    {
        await TransactionCommands.ExecuteAsync(connection, transaction, AdvisoryLocks.LockRunArtifacts, cancellationToken, ("run", runId));
        var reason = FormattableString.Invariant(
            $"retention: batches staged for a run id no event ever named, the last more than DELETE_AFTER_DAYS={Options.DeleteAfterDays} days ago");
        await using var command = new NpgsqlCommand(ArtifactSql.DeleteOrphan, connection, transaction)
        {
            CommandTimeout = TransactionCommands.TimeoutSeconds,
            Parameters = { new("run", runId), new("delete_cutoff", Now - Options.DeleteAfter), new("reason", reason), new("now", Now) },
        };
        var batches = await command.ExecuteNonQueryAsync(cancellationToken);
        return batches > 0
            ? new ArtifactResult(runId, null, ArtifactOutcome.Deleted, $"staging of a run id no event ever named, {batches} batches")
            : null;
    }

    /// <summary>Why the run cannot be archived or deleted at all (unknown, open, deleted, pinned), or null.</summary>
    private string? Refusal(RunRow? row, Guid runId, string verb) => row switch
    {
        null => $"run {runId} is not in the ledger",
        { Status: not (RunStatus.Completed or RunStatus.Failed or RunStatus.Cancelled) } => $"run {runId} is {row.Status}; only a Completed, Failed or Cancelled run is {verb}",
        { DeletedAt: { } deletedAt } => $"run {runId} was deleted at {deletedAt:u}",
        { PinnedUntil: { } until } when until > Now =>
            $"run {runId} is pinned until {until:u} and is not {verb}; send PinRun with no 'until' to unpin it first",
        _ => null,
    };

    private static ArtifactResult Refuse(Guid runId, string? source, string refusal, bool manual) =>
        manual ? throw new RetentionRefusedException(refusal) : new ArtifactResult(runId, source, ArtifactOutcome.Skipped, refusal);

    private async Task<RunRow?> LockAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, CancellationToken cancellationToken)
    {
        await TransactionCommands.ExecuteAsync(connection, transaction, AdvisoryLocks.LockRunArtifacts, cancellationToken, ("run", runId));
        await using var command = new NpgsqlCommand(ArtifactSql.LockRunRow, connection, transaction) { Parameters = { new("run", runId) } };
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        DateTime? At(int i) => reader.IsDBNull(i) ? null : reader.GetDateTime(i);
        string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
        return new RunRow(
            reader.GetString(0), Text(1), Text(2), reader.GetDateTime(3), reader.GetDateTime(4), At(5), Text(6), Text(7), At(8), At(9), At(10), Text(11),
            reader.GetString(12));
    }

    /// <summary>A re-archived (restored) run keeps its file when the file is intact and holds exactly the rows in staging.</summary>
    private bool KeepsCurrentArchive(RunRow row, (int Lines, string Sha256) items, (int Lines, string Sha256) batches)
    {
        if (row.ArchivePath is null || row.ArchiveSha256 is null || !File.Exists(folder.FullPath(row.ArchivePath))
            || ArchiveFile.FileSha256(folder.FullPath(row.ArchivePath)) != row.ArchiveSha256)
        {
            return false;
        }

        var current = ArchiveFile.Read(folder.FullPath(row.ArchivePath));
        return (current.Items, current.ItemsSha256, current.Batches, current.BatchesSha256) == (items.Lines, items.Sha256, batches.Lines, batches.Sha256);
    }

    /// <summary>
    /// <c>{YYYY}/{MM}/{folder_name}{ext}</c> (see <see cref="ArchiveFolder.Month"/>); the run id when the folder name is missing or
    /// not a plain file name. A name another run's row holds, or this run's own current file, is not used: the run id,
    /// then the time, is added. Each candidate is checked under its path lock, held to the commit.
    /// </summary>
    private async Task<string> ChoosePathAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, RunRow row, CancellationToken cancellationToken)
    {
        var extension = ArchiveFile.Extension(Options.ArchiveCompression);
        var month = ArchiveFolder.Month(row.FolderName, row.CreatedAt);
        var name = ArchiveFolder.FileName(row.FolderName, runId);
        string[] candidates =
        [
            $"{month}/{name}{extension}",
            $"{month}/{name}-{runId:N}{extension}",
            FormattableString.Invariant($"{month}/{name}-{runId:N}-{Now:yyyyMMddHHmmssfff}{extension}"),
        ];
        foreach (var path in candidates)
        {
            if (path == row.ArchivePath)
            {
                continue;
            }

            await TransactionCommands.ExecuteAsync(connection, transaction, AdvisoryLocks.LockArchivePath, cancellationToken, ("path", path));
            await using var command = new NpgsqlCommand(ArtifactSql.PathTaken, connection, transaction) { Parameters = { new("path", path), new("run", runId) } };
            if (!(bool)(await command.ExecuteScalarAsync(cancellationToken))!)
            {
                return path;
            }
        }

        throw new InvalidOperationException($"no free archive file name for run {runId} under {month}: {string.Join(", ", candidates)} are all taken");
    }

    private static async Task<(int Lines, string Sha256)> WriteLinesAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, Guid runId, string file, CancellationToken cancellationToken)
    {
        await using (var output = new StreamWriter(file, append: false, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), 1 << 16))
        await using (var command = new NpgsqlCommand(sql, connection, transaction)
        {
            CommandTimeout = TransactionCommands.TimeoutSeconds,
            Parameters = { new("run", runId) },
        })
        await using (var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess, cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                await output.WriteAsync(reader.GetString(0));
                await output.WriteAsync('\n');
            }
        }

        await using var written = File.OpenRead(file);
        return ArchiveFile.CountAndHash(written);
    }


}
