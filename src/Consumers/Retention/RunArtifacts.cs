using System.Data;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;

namespace RunSaga.Consumers.Retention;

/// <summary>What happened to one run's artifacts: <c>archived</c>, <c>deleted</c>, <c>restored</c> or <c>skipped</c> (with why).</summary>
public sealed record ArtifactResult(Guid RunId, string? Source, string Outcome, string? Detail = null, string? ArchivePath = null, int Items = 0, int Batches = 0);

/// <summary>An operator's command that cannot be carried out as asked (unknown run, open run, pinned run…); nothing changed.</summary>
public sealed class RetentionRefusedException(string message) : Exception(message);

/// <summary>
/// The lifecycle of a finished run's artifacts (its staged items and batches): archive to a verified file and
/// empty staging; delete (file, staging, and with <c>hard</c> the row) leaving a <c>run_audit</c> row; restore an
/// archive back into staging; pin. Each operation is one transaction under the run's lock with its row locked,
/// so two cycles, a late batch and an operator's command on one run never cross.
/// </summary>
public sealed partial class RunArtifacts(
    NpgsqlDataSource dataSource, IOptions<RetentionOptions> options, TimeProvider clock, ILogger<RunArtifacts> logger)
{
    private RetentionOptions Options => options.Value;
    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    /// <summary>The archive file's absolute path for a stored (relative) <c>archive_path</c>.</summary>
    public string FullPath(string relative) => Path.GetFullPath(Path.Combine(Options.ArchiveBasePath, relative));

    public Task<IReadOnlyList<Guid>> ArchiveDueAsync(string? source, int limit, CancellationToken cancellationToken) =>
        DueAsync(ArtifactSql.ArchiveDue, source, limit, cancellationToken);

    public Task<IReadOnlyList<Guid>> DeleteDueAsync(string? source, int limit, CancellationToken cancellationToken) =>
        DueAsync(ArtifactSql.DeleteDue, source, limit, cancellationToken);

    /// <summary>
    /// A cycle's artifact phase for one source (null: the runs without one): archives up to RETENTION_BATCH_RUNS due
    /// runs, then deletes up to as many, logging progress. The first error stops it (nothing is deleted after a
    /// failed archival). A dry run only counts what is due.
    /// </summary>
    public async Task ProcessDueAsync(string? source, bool dryRun, ArtifactProgress progress, CancellationToken cancellationToken)
    {
        if (dryRun)
        {
            progress.Archived = (await ArchiveDueAsync(source, int.MaxValue, cancellationToken)).Count;
            progress.Deleted = (await DeleteDueAsync(source, int.MaxValue, cancellationToken)).Count
                + (source is null ? (await DueAsync(ArtifactSql.OrphansDue, null, int.MaxValue, cancellationToken)).Count : 0);
            return;
        }

        var limit = Options.BatchRuns;
        var toArchive = await ArchiveDueAsync(source, limit, cancellationToken);
        foreach (var runId in toArchive)
        {
            var result = await ArchiveAsync(runId, manual: false, cancellationToken);
            Log(result);
            progress.Archived += result.Outcome == "archived" ? 1 : 0;
        }

        var toDelete = await DeleteDueAsync(source, limit, cancellationToken);
        foreach (var runId in toDelete)
        {
            var result = await DeleteAsync(runId, reason: null, "retention", manual: false, cancellationToken);
            Log(result);
            progress.Deleted += result.Outcome == "deleted" ? 1 : 0;
        }

        var orphans = source is null ? await DeleteOrphansAsync(limit, progress, cancellationToken) : 0;

        progress.MoreDue = toArchive.Count == limit || toDelete.Count == limit || orphans == limit;
        if (toArchive.Count + toDelete.Count > 0)
        {
            logger.LogInformation(
                "Run artifacts of {Scope}: {Archived} runs archived, {Deleted} deleted{More}",
                source ?? "runs without a source", progress.Archived, progress.Deleted,
                progress.MoreDue ? $"; more are due than RETENTION_BATCH_RUNS={limit}, the next message continues" : "");
        }
    }

    /// <summary>
    /// Staging rows of run ids no event ever named (no row in <c>runs</c>), last staged more than DELETE_AFTER_DAYS
    /// ago: deleted with a <c>run_audit</c> row (status <c>Unknown</c>), each under its run lock. Counted as deleted runs.
    /// </summary>
    private async Task<int> DeleteOrphansAsync(int limit, ArtifactProgress progress, CancellationToken cancellationToken)
    {
        var orphans = await DueAsync(ArtifactSql.OrphansDue, null, limit, cancellationToken);
        var reason = FormattableString.Invariant(
            $"retention: batches staged for a run id no event ever named, last one more than DELETE_AFTER_DAYS={Options.DeleteAfterDays} days ago");
        foreach (var runId in orphans)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
            await TransactionCommands.ExecuteAsync(connection, transaction, AdvisoryLocks.LockRun, cancellationToken, ("run", runId));
            await using var command = new NpgsqlCommand(ArtifactSql.DeleteOrphan, connection, transaction)
            {
                CommandTimeout = TransactionCommands.TimeoutSeconds,
                Parameters = { new("run", runId), new("delete_cutoff", Now - Options.DeleteAfter), new("reason", reason), new("now", Now) },
            };
            var deleted = await command.ExecuteNonQueryAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            if (deleted > 0)
            {
                progress.Deleted++;
                using var scope = RunLogScope.Begin(runId, null);
                logger.LogInformation("Staging of a run id no event ever named deleted ({Batches} batches); runsaga.run_audit keeps its summary", deleted);
            }
        }

        return orphans.Count;
    }

    /// <summary>One line per run, under the run's id and source.</summary>
    public void Log(ArtifactResult result)
    {
        using var scope = RunLogScope.Begin(result.RunId, result.Source);
        switch (result.Outcome)
        {
            case "archived":
                logger.LogInformation("Run archived to {ArchivePath} ({Items} items, {Batches} batches); its staging rows are deleted",
                    result.ArchivePath, result.Items, result.Batches);
                break;
            case "deleted":
                logger.LogInformation("Run artifacts deleted ({Strategy}); runsaga.run_audit keeps its summary", result.Detail);
                break;
            case "restored":
                logger.LogInformation("Run restored from {ArchivePath} into staging ({Items} items, {Batches} batches), read-only",
                    result.ArchivePath, result.Items, result.Batches);
                break;
            default:
                logger.LogInformation("Run artifacts left as they are: {Reason}", result.Detail);
                break;
        }
    }

    /// <summary>
    /// Writes the run's archive, flushes it to disk, reads it back and compares it with what was read from staging;
    /// only then records it on the run and deletes the staging rows, in one transaction. A crash before the commit
    /// leaves the rows (and at most a verified or partial file, rewritten next time); after it, the file.
    /// </summary>
    /// <param name="manual">An operator's ArchiveRun: archived whatever its age; refusals throw.</param>
    public async Task<ArtifactResult> ArchiveAsync(Guid runId, bool manual, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        var row = await LockAsync(connection, transaction, runId, cancellationToken);
        if (Refusal(row, runId, "archived") is { } refusal)
        {
            return Refuse(runId, row?.Source, refusal, manual);
        }

        if (row!.ArchivedAt is { } archivedAt && row.RestoredAt is null)
        {
            return new ArtifactResult(runId, row.Source, "skipped", $"already archived at {archivedAt:u} ({row.ArchivePath})", row.ArchivePath);
        }

        if (!manual && row.RestoredAt is null && row.FinishedAt > Now - Options.ArchiveAfter)
        {
            return new ArtifactResult(runId, row.Source, "skipped", "no longer due");
        }

        var relative = await ChoosePathAsync(connection, transaction, runId, row, cancellationToken);
        var target = FullPath(relative);
        var directory = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(directory);
        var partial = Path.Combine(directory, $".partial-{runId:N}{ArchiveFile.Extension(Options.ArchiveCompression)}");
        var itemsFile = Path.Combine(directory, $".partial-{runId:N}.items.jsonl");
        var batchesFile = Path.Combine(directory, $".partial-{runId:N}.batches.jsonl");
        try
        {
            var items = await WriteLinesAsync(connection, transaction, ArtifactSql.ItemLines, runId, itemsFile, cancellationToken);
            var batches = await WriteLinesAsync(connection, transaction, ArtifactSql.BatchLines, runId, batchesFile, cancellationToken);

            ArchiveFile.Write(partial, Options.ArchiveCompression, row.Json, batchesFile, itemsFile, Now);
            var readBack = ArchiveFile.Read(partial);
            if (!readBack.HasRunJson || (readBack.Items, readBack.ItemsSha256, readBack.Batches, readBack.BatchesSha256) != (items.Lines, items.Sha256, batches.Lines, batches.Sha256))
            {
                throw new InvalidDataException(
                    $"the archive {partial} read back differs from what was written ({readBack.Items} of {items.Lines} items); "
                    + "staging is kept. Check the disk under ARCHIVE_BASE_PATH");
            }

            var sha256 = ArchiveFile.FileSha256(partial);
            File.Move(partial, target, overwrite: true);

            await TransactionCommands.ExecuteAsync(connection, transaction, ArtifactSql.MarkArchived, cancellationToken,
                ("run", runId), ("now", Now), ("path", relative), ("sha256", sha256));
            await transaction.CommitAsync(cancellationToken);

            if (row.ArchivePath is { } previous && previous != relative)
            {
                TryDelete(FullPath(previous), runId, row.Source);
            }

            return new ArtifactResult(runId, row.Source, "archived", null, relative, items.Lines, batches.Lines);
        }
        finally
        {
            File.Delete(itemsFile);
            File.Delete(batchesFile);
            File.Delete(partial);
        }
    }

    /// <summary>
    /// Deletes the run's staging rows and (DELETION_STRATEGY) marks or removes its row, after writing its
    /// <c>run_audit</c> row, in one transaction; then deletes its archive file. A crash after the commit leaves an
    /// orphaned file (named in the audit row), never a run that points at a missing one.
    /// </summary>
    /// <param name="reason">Null for a cycle's deletion: the knob that made it due.</param>
    public async Task<ArtifactResult> DeleteAsync(Guid runId, string? reason, string requestedBy, bool manual, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        var row = await LockAsync(connection, transaction, runId, cancellationToken);
        if (row is { DeletedAt: { } deletedAt })
        {
            return new ArtifactResult(runId, row.Source, "skipped", $"already deleted at {deletedAt:u}");
        }

        if (Refusal(row, runId, "deleted") is { } refusal)
        {
            return Refuse(runId, row?.Source, refusal, manual);
        }

        var deleteAfter = row!.Status == RunStatus.Failed ? Options.FailedDeleteAfter : Options.DeleteAfter;
        if (!manual && row.FinishedAt > Now - deleteAfter)
        {
            return new ArtifactResult(runId, row.Source, "skipped", "no longer due");
        }

        reason ??= row.Status == RunStatus.Failed
            ? FormattableString.Invariant($"retention: failed more than FAILED_DELETE_AFTER_DAYS={Options.FailedDeleteAfter.TotalDays} days ago")
            : FormattableString.Invariant($"retention: completed more than DELETE_AFTER_DAYS={Options.DeleteAfterDays} days ago");
        var hard = Options.DeletionStrategy == "hard";
        await TransactionCommands.ExecuteAsync(connection, transaction, ArtifactSql.Audit, cancellationToken,
            ("run", runId), ("action", hard ? "hard-deleted" : "deleted"), ("reason", reason), ("requested_by", requestedBy), ("now", Now));
        await TransactionCommands.ExecuteAsync(connection, transaction, hard ? ArtifactSql.HardDelete : ArtifactSql.SoftDelete, cancellationToken,
            ("run", runId), ("now", Now), ("reason", reason));
        await transaction.CommitAsync(cancellationToken);

        if (row.ArchivePath is { } path)
        {
            TryDelete(FullPath(path), runId, row.Source);
        }

        return new ArtifactResult(runId, row.Source, "deleted", hard ? "hard" : "soft", row.ArchivePath);
    }

    /// <summary>
    /// Unpacks the run's archive (checked against its recorded SHA-256) back into staging, read-only: the run stays
    /// archived, so no batch is staged into it, and the next cycle archives it again unless it is pinned.
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

        var file = FullPath(row.ArchivePath);
        if (!File.Exists(file))
        {
            throw new RetentionRefusedException($"the archive of run {runId} is missing: {file}. Restore the file from backup and send RestoreRun again");
        }

        if (ArchiveFile.FileSha256(file) != row.ArchiveSha256)
        {
            throw new RetentionRefusedException(
                $"the archive of run {runId} ({file}) does not match the SHA-256 recorded when it was written; it was changed or damaged. Nothing restored");
        }

        var scratch = Path.Combine(Path.GetTempPath(), $"runsaga-restore-{runId:N}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(scratch);
        try
        {
            var items = Path.Combine(scratch, ArchiveFile.ItemsEntry);
            var batches = Path.Combine(scratch, ArchiveFile.BatchesEntry);
            ArchiveFile.Extract(file, ArchiveFile.ItemsEntry, items);
            ArchiveFile.Extract(file, ArchiveFile.BatchesEntry, batches);

            await TransactionCommands.ExecuteAsync(connection, transaction, ArtifactSql.CreateRestoreTable, cancellationToken);
            int itemCount, batchCount;
            await using (var importer = await connection.BeginBinaryImportAsync(ArtifactSql.CopyRestoreLines, cancellationToken))
            {
                importer.Timeout = TimeSpan.FromSeconds(TransactionCommands.TimeoutSeconds);
                itemCount = await CopyLinesAsync(importer, "items", items, cancellationToken);
                batchCount = await CopyLinesAsync(importer, "batches", batches, cancellationToken);
                await importer.CompleteAsync(cancellationToken);
            }

            await TransactionCommands.ExecuteAsync(connection, transaction, ArtifactSql.RestoreRows, cancellationToken, ("run", runId), ("now", Now));
            await transaction.CommitAsync(cancellationToken);
            return new ArtifactResult(runId, row.Source, "restored", null, row.ArchivePath, itemCount, batchCount);
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    /// <summary>Sets (or, with a past or null moment, clears) the run's pin. Returns the run's source.</summary>
    public async Task<string?> PinAsync(Guid runId, DateTime? until, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ArtifactSql.Pin);
        command.Parameters.Add(new("run", runId));
        command.Parameters.Add(new("until", NpgsqlDbType.TimestampTz) { Value = (object?)until?.ToUniversalTime() ?? DBNull.Value });
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

    /// <summary>Why the run cannot be archived or deleted at all (unknown, open, deleted, pinned), or null.</summary>
    private string? Refusal(RunRow? row, Guid runId, string verb) => row switch
    {
        null => $"run {runId} is not in the ledger",
        { Status: not (RunStatus.Completed or RunStatus.Failed) } => $"run {runId} is {row.Status}; only a Completed or Failed run is {verb}",
        { DeletedAt: { } deletedAt } => $"run {runId} was deleted at {deletedAt:u}",
        { PinnedUntil: { } until } when until > Now =>
            $"run {runId} is pinned until {until:u} and is not {verb}; send PinRun with no 'until' to unpin it first",
        _ => null,
    };

    private ArtifactResult Refuse(Guid runId, string? source, string refusal, bool manual) =>
        manual ? throw new RetentionRefusedException(refusal) : new ArtifactResult(runId, source, "skipped", refusal);

    private async Task<RunRow?> LockAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, CancellationToken cancellationToken)
    {
        await TransactionCommands.ExecuteAsync(connection, transaction, AdvisoryLocks.LockRun, cancellationToken, ("run", runId));
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

    /// <summary>
    /// <c>{YYYY}/{MM}/{folder_name}{ext}</c> by the run's creation date; the run id when the folder name is missing or
    /// not a plain file name, and the folder name with the run id when another run's archive has that name already.
    /// </summary>
    private async Task<string> ChoosePathAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, RunRow row, CancellationToken cancellationToken)
    {
        var extension = ArchiveFile.Extension(Options.ArchiveCompression);
        var month = FormattableString.Invariant($"{row.CreatedAt:yyyy}/{row.CreatedAt:MM}");
        var name = row.FolderName is { } folder && SafeFileName().IsMatch(folder) ? folder : runId.ToString("N");
        var path = $"{month}/{name}{extension}";
        await TransactionCommands.ExecuteAsync(connection, transaction, AdvisoryLocks.LockArchivePath, cancellationToken, ("path", path));
        await using var command = new NpgsqlCommand(ArtifactSql.PathTaken, connection, transaction) { Parameters = { new("path", path), new("run", runId) } };
        if ((bool)(await command.ExecuteScalarAsync(cancellationToken))!)
        {
            path = $"{month}/{name}-{runId:N}{extension}";
        }

        return path;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex SafeFileName();

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

    private static async Task<int> CopyLinesAsync(NpgsqlBinaryImporter importer, string entry, string file, CancellationToken cancellationToken)
    {
        var count = 0;
        using var input = new StreamReader(file, new UTF8Encoding(false, throwOnInvalidBytes: true));
        while (await input.ReadLineAsync(cancellationToken) is { } line)
        {
            await importer.StartRowAsync(cancellationToken);
            await importer.WriteAsync(entry, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(line, NpgsqlDbType.Text, cancellationToken);
            count++;
        }

        return count;
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

    private void TryDelete(string file, Guid runId, string? source)
    {
        try
        {
            File.Delete(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            using var scope = RunLogScope.Begin(runId, source);
            logger.LogError(ex, "Could not delete the archive file {File}; the run no longer points at it. Delete it by hand", file);
        }
    }
}
