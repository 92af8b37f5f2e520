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
/// <param name="Leftovers">After a deletion: the folder where the run's archive and any partial files of it were.</param>
public sealed record ArtifactResult(
    Guid RunId, string? Source, string Outcome, string? Detail = null, string? ArchivePath = null, int Items = 0, int Batches = 0, string? Leftovers = null);

/// <summary>An operator's command that cannot be carried out as asked (unknown run, open run, pinned run…); nothing changed.</summary>
public sealed class RetentionRefusedException(string message) : Exception(message);

/// <summary>The two artifact phases of a retention cycle, as <see cref="SourcePruner.RunCycleAsync"/> runs them.</summary>
/// <param name="ArchiveAsync">Before the cycle's transaction: archives due runs, one transaction each.</param>
/// <param name="DeleteAsync">Inside the cycle's transaction: deletes due runs; returns what to do once it committed.</param>
public sealed record ArtifactPhases(
    Func<ArtifactProgress, CancellationToken, Task> ArchiveAsync,
    Func<NpgsqlConnection, NpgsqlTransaction, ArtifactProgress, CancellationToken, Task<Action>> DeleteAsync);

/// <summary>
/// The lifecycle of a finished run's artifacts (its staged items and batches): archive to a verified file and
/// empty staging; delete (staging, file, and with <c>hard</c> the row) leaving a <c>run_audit</c> row; restore an
/// archive back into staging; pin. Every operation on a run holds <c>AdvisoryLocks.LockRunArtifacts</c> (which
/// staging shares) and the run's row lock, so two cycles, a late batch and an operator's command never cross.
/// </summary>
public sealed partial class RunArtifacts(
    NpgsqlDataSource dataSource, IOptions<RetentionOptions> options, TimeProvider clock, ILogger<RunArtifacts> logger)
{
    private RetentionOptions Options => options.Value;
    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    /// <summary>The archive file's absolute path for a stored (relative) <c>archive_path</c>.</summary>
    public string FullPath(string relative) => Path.GetFullPath(Path.Combine(Options.ArchiveBasePath, relative));

    /// <summary>The artifact phases of a cycle for one source (null: the runs without one, and run ids never named).</summary>
    public ArtifactPhases PhasesFor(string? source, bool dryRun) => new(
        (progress, cancellationToken) => ArchiveDueAsync(source, dryRun, progress, cancellationToken),
        async (connection, transaction, progress, cancellationToken) =>
        {
            var deleted = await DeleteDueAsync(connection, transaction, source, dryRun, progress, cancellationToken);
            return () => Deleted(deleted);
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
                result = await ArchiveAsync(runId, manual: false, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new InvalidOperationException(
                    $"archiving run {runId} failed, so the cycle stopped there and deleted nothing (the run keeps its staging rows): {ex.Message}", ex);
            }

            Log(result);
            progress.Archived += result.Outcome == "archived" ? 1 : 0;
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
    /// Returns the deleted runs, whose files go once the transaction committed. A dry run counts.
    /// </summary>
    public async Task<IReadOnlyList<ArtifactResult>> DeleteDueAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string? source, bool dryRun, ArtifactProgress progress, CancellationToken cancellationToken)
    {
        if (dryRun)
        {
            progress.Deleted = (await DueAsync(ArtifactSql.DeleteDue, source, int.MaxValue, cancellationToken)).Count
                + (source is null ? (await DueAsync(ArtifactSql.OrphansDue, null, int.MaxValue, cancellationToken)).Count : 0);
            return [];
        }

        var deleted = new List<ArtifactResult>();
        var due = await DueAsync(ArtifactSql.DeleteDue, source, Options.BatchRuns, cancellationToken);
        foreach (var runId in due)
        {
            var result = await DeleteInAsync(connection, transaction, runId, reason: null, "retention", manual: false, cancellationToken);
            if (result.Outcome == "deleted")
            {
                deleted.Add(result);
            }
        }

        var orphans = source is null ? await DueAsync(ArtifactSql.OrphansDue, null, Options.BatchRuns, cancellationToken) : [];
        foreach (var runId in orphans)
        {
            if (await DeleteOrphanInAsync(connection, transaction, runId, cancellationToken) is { } result)
            {
                deleted.Add(result);
            }
        }

        progress.Deleted = deleted.Count;
        progress.MoreDue |= due.Count == Options.BatchRuns || orphans.Count == Options.BatchRuns;
        return deleted;
    }

    /// <summary>After the deleting transaction committed: the runs' files go, and a line for each.</summary>
    public void Deleted(IReadOnlyList<ArtifactResult> deleted)
    {
        foreach (var result in deleted)
        {
            RemoveFiles(result);
            Log(result);
        }
    }

    private string More => $"; more are due than RETENTION_BATCH_RUNS={Options.BatchRuns}, the next message continues";

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
                logger.LogInformation("Run artifacts deleted ({Detail}); runsaga.run_audit keeps its summary", result.Detail);
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
    /// Writes the run's archive, flushes it (and its folder) to disk, reads it back and compares it with what was
    /// read from staging; only then records it on the run and deletes the staging rows, in the transaction that
    /// holds the run's locks. A file another run's row points at is never written; neither is the file this run's
    /// row points at (a restored run whose rows still match it keeps it; otherwise the new file gets a new name and
    /// the old one goes after the commit). A crash before the commit leaves the rows, after it the verified file.
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

        var folder = MonthFolder(row);
        Directory.CreateDirectory(folder);
        DirectorySync.FlushUpTo(folder, Options.ArchiveBasePath);
        RemovePartials(folder, runId);
        var partial = Path.Combine(folder, $".partial-{runId:N}{ArchiveFile.Extension(Options.ArchiveCompression)}");
        var itemsFile = Path.Combine(folder, $".partial-{runId:N}.items.jsonl");
        var batchesFile = Path.Combine(folder, $".partial-{runId:N}.batches.jsonl");
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
                File.Move(partial, FullPath(relative), overwrite: true);
                DirectorySync.Flush(folder);
            }

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
            RemovePartials(folder, runId);
        }
    }

    /// <summary>
    /// Deletes the run's artifacts now (an operator's DeleteRun, or <paramref name="manual"/> false for tests of one
    /// run): the <c>run_audit</c> row and the rows in one transaction, then its files.
    /// </summary>
    /// <param name="reason">Null for a cycle's deletion: the knob that made it due.</param>
    public async Task<ArtifactResult> DeleteAsync(Guid runId, string? reason, string requestedBy, bool manual, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        var result = await DeleteInAsync(connection, transaction, runId, reason, requestedBy, manual, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        if (result.Outcome == "deleted")
        {
            RemoveFiles(result);
        }

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
        return new ArtifactResult(runId, row.Source, "restored", null, row.ArchivePath, items, batches);
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
    private async Task<ArtifactResult> DeleteInAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, string? reason, string requestedBy, bool manual, CancellationToken cancellationToken)
    {
        var row = await LockAsync(connection, transaction, runId, cancellationToken);
        if (row is { DeletedAt: { } deletedAt })
        {
            return new ArtifactResult(runId, row.Source, "skipped", $"already deleted at {deletedAt:u}");
        }

        if (Refusal(row, runId, "deleted") is { } refusal)
        {
            return Refuse(runId, row?.Source, refusal, manual);
        }

        var deleteAfter = RunStatus.EndedUnfinished(row!.Status) ? Options.FailedDeleteAfter : Options.DeleteAfter;
        if (!manual && row.FinishedAt > Now - deleteAfter)
        {
            return new ArtifactResult(runId, row.Source, "skipped", "no longer due");
        }

        reason ??= RunStatus.EndedUnfinished(row.Status)
            ? FormattableString.Invariant($"retention: failed or cancelled more than FAILED_DELETE_AFTER_DAYS={Options.FailedDeleteAfter.TotalDays} days ago")
            : FormattableString.Invariant($"retention: completed more than DELETE_AFTER_DAYS={Options.DeleteAfterDays} days ago");
        var hard = Options.DeletionStrategy == "hard";
        await TransactionCommands.ExecuteAsync(connection, transaction, ArtifactSql.Audit, cancellationToken,
            ("run", runId), ("action", hard ? "hard-deleted" : "deleted"), ("reason", reason), ("requested_by", requestedBy), ("now", Now));
        await TransactionCommands.ExecuteAsync(connection, transaction, hard ? ArtifactSql.HardDelete : ArtifactSql.SoftDelete, cancellationToken,
            ("run", runId), ("now", Now), ("reason", reason));
        return new ArtifactResult(runId, row.Source, "deleted", hard ? "hard" : "soft", row.ArchivePath, Leftovers: MonthFolder(row));
    }

    /// <summary>
    /// Staging rows of a run id no event ever named (no row in <c>runs</c>), last staged more than DELETE_AFTER_DAYS
    /// ago: deleted with a <c>run_audit</c> row (status <c>Unknown</c>) under the run's artifact lock, so a batch being
    /// staged meanwhile is waited for and keeps them.
    /// </summary>
    private async Task<ArtifactResult?> DeleteOrphanInAsync(
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
            ? new ArtifactResult(runId, null, "deleted", $"staging of a run id no event ever named, {batches} batches")
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
        manual ? throw new RetentionRefusedException(refusal) : new ArtifactResult(runId, source, "skipped", refusal);

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
        if (row.ArchivePath is null || row.ArchiveSha256 is null || !File.Exists(FullPath(row.ArchivePath))
            || ArchiveFile.FileSha256(FullPath(row.ArchivePath)) != row.ArchiveSha256)
        {
            return false;
        }

        var current = ArchiveFile.Read(FullPath(row.ArchivePath));
        return (current.Items, current.ItemsSha256, current.Batches, current.BatchesSha256) == (items.Lines, items.Sha256, batches.Lines, batches.Sha256);
    }

    private string MonthFolder(RunRow row) => Path.GetFullPath(Path.Combine(Options.ArchiveBasePath, ArchiveMonth(row)));

    /// <summary>
    /// <c>YYYY/MM</c> of the run's archive: from the same timestamp as its folder name (<c>YYYYMMDD_HHMMSS_{runId}</c>,
    /// the run's start), so the two never disagree across a month's end; the creation date when there is no such name.
    /// </summary>
    private static string ArchiveMonth(RunRow row) =>
        row.FolderName is { } folder && FolderNameDate().Match(folder) is { Success: true } date
            ? $"{date.Groups[1].Value}/{date.Groups[2].Value}"
            : FormattableString.Invariant($"{row.CreatedAt:yyyy}/{row.CreatedAt:MM}");

    /// <summary>
    /// <c>{YYYY}/{MM}/{folder_name}{ext}</c> (see <see cref="ArchiveMonth"/>); the run id when the folder name is missing or
    /// not a plain file name. A name another run's row holds, or this run's own current file, is not used: the run id,
    /// then the time, is added. Each candidate is checked under its path lock, held to the commit.
    /// </summary>
    private async Task<string> ChoosePathAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid runId, RunRow row, CancellationToken cancellationToken)
    {
        var extension = ArchiveFile.Extension(Options.ArchiveCompression);
        var month = ArchiveMonth(row);
        var name = row.FolderName is { } folder && SafeFileName().IsMatch(folder) ? folder : runId.ToString("N");
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

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex SafeFileName();

    [GeneratedRegex("^([0-9]{4})([0-9]{2})[0-9]{2}_[0-9]{6}_")]
    private static partial Regex FolderNameDate();

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

    /// <summary>A deleted run's archive file and any partial files a crashed archival of it left.</summary>
    private void RemoveFiles(ArtifactResult deleted)
    {
        if (deleted.ArchivePath is { } path)
        {
            TryDelete(FullPath(path), deleted.RunId, deleted.Source);
        }

        if (deleted.Leftovers is { } folder)
        {
            RemovePartials(folder, deleted.RunId);
        }
    }

    private static void RemovePartials(string folder, Guid runId)
    {
        if (Directory.Exists(folder))
        {
            foreach (var file in Directory.EnumerateFiles(folder, $".partial-{runId:N}*"))
            {
                File.Delete(file);
            }
        }
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
