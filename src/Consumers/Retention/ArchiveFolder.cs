using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RunSaga.Shared.Hosting;

namespace RunSaga.Consumers.Retention;

/// <summary>
/// The files under ARCHIVE_BASE_PATH: where a run's archive goes (<c>{YYYY}/{MM}/{name}{ext}</c>), its partial files
/// while it is written, and the trash (<c>.trash/{run id}/</c> + the same relative path) where a deletion puts it before
/// it commits; a soft deletion's stays there until TRASH_KEEP_DAYS have passed. No database work here: callers hold the
/// run's locks.
/// </summary>
public sealed partial class ArchiveFolder(IOptions<RetentionOptions> options, ILogger<ArchiveFolder> logger)
{
    /// <summary>The trash's folder name under ARCHIVE_BASE_PATH.</summary>
    public const string Trash = ".trash";

    private string BasePath => options.Value.ArchiveBasePath;

    /// <summary>The archive file's absolute path for a stored (relative) <c>archive_path</c>.</summary>
    public string FullPath(string relative) => Path.GetFullPath(Path.Combine(BasePath, relative));

    /// <summary>
    /// <c>YYYY/MM</c> of a run's archive: from the same timestamp as its folder name (<c>YYYYMMDD_HHMMSS_{runId}</c>,
    /// the run's start), so the two never disagree across a month's end; the creation date when there is no such name.
    /// </summary>
    public static string Month(string? folderName, DateTime createdAt) =>
        folderName is { } folder && FolderNameDate().Match(folder) is { Success: true } date
            ? $"{date.Groups[1].Value}/{date.Groups[2].Value}"
            : FormattableString.Invariant($"{createdAt:yyyy}/{createdAt:MM}");

    public string MonthFolder(string? folderName, DateTime createdAt) => FullPath(Month(folderName, createdAt));

    /// <summary>The run's folder name when it is a plain file name (no path, no surprises), else the run id.</summary>
    public static string FileName(string? folderName, Guid runId) =>
        folderName is { } folder && SafeFileName().IsMatch(folder) ? folder : runId.ToString("N");

    /// <summary>Creates the month folder (and makes its creation durable) and clears partial files an earlier attempt left.</summary>
    public void Prepare(string folder, Guid runId)
    {
        Directory.CreateDirectory(folder);
        DirectorySync.FlushUpTo(folder, BasePath);
        RemovePartials(folder, runId);
    }

    public static string PartialFile(string folder, Guid runId, string suffix) => Path.Combine(folder, $".partial-{runId:N}{suffix}");

    public static void RemovePartials(string folder, Guid runId)
    {
        if (Directory.Exists(folder))
        {
            foreach (var file in Directory.EnumerateFiles(folder, $".partial-{runId:N}*"))
            {
                File.Delete(file);
            }
        }
    }

    /// <summary>Deletes a file the run no longer points at; a failure is logged for an operator, not thrown.</summary>
    public void TryDelete(string file, Guid runId, string? source)
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

    /// <summary>
    /// Where a deleted run's archive waits: <c>.trash/{run id}/{relative path}</c>, one folder per run, so two runs whose
    /// archives once had the same name never share a trash file.
    /// </summary>
    public string TrashPath(Guid runId, string relative) => Path.GetFullPath(Path.Combine(BasePath, Trash, runId.ToString("N"), relative));

    /// <summary>
    /// Moves a run's archive into the trash while the deleting transaction (which holds the run's locks, and whose row
    /// still claims the file's name for everyone else) is open; a failure throws and the deletion rolls back.
    /// </summary>
    public void MoveToTrash(Guid runId, string relative)
    {
        var source = FullPath(relative);
        if (!File.Exists(source))
        {
            return; // already gone (removed by hand): the deletion goes on, the audit row says where it was
        }

        var target = TrashPath(runId, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.Move(source, target, overwrite: true);
        DirectorySync.Flush(Path.GetDirectoryName(target)!);
        DirectorySync.Flush(Path.GetDirectoryName(source)!);
    }

    /// <summary>Moves a run's archive back from the trash (a deletion that rolled back, an undeletion, a restore that finds one).</summary>
    public void MoveBack(Guid runId, string relative)
    {
        var target = FullPath(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.Move(TrashPath(runId, relative), target);
        DirectorySync.Flush(Path.GetDirectoryName(target)!);
    }

    /// <summary>Best effort, after a rollback: the file goes back where the run's row still says it is.</summary>
    public void TryMoveBack(Guid runId, string? source, string relative)
    {
        try
        {
            if (File.Exists(TrashPath(runId, relative)) && !File.Exists(FullPath(relative)))
            {
                MoveBack(runId, relative);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            using var scope = RunLogScope.Begin(runId, source);
            logger.LogError(ex, "Could not move the archive back from {Trash} to {File} after the deletion rolled back; move it by hand "
                + "(a RestoreRun of the run also does)", TrashPath(runId, relative), FullPath(relative));
        }
    }

    /// <summary>Removes a run's archive from the trash for good (hard deletion, or the purge after TRASH_KEEP_DAYS).</summary>
    public void DeleteFromTrash(Guid runId, string? source, string relative)
    {
        TryDelete(TrashPath(runId, relative), runId, source);
        try
        {
            var runFolder = new DirectoryInfo(Path.Combine(Path.GetFullPath(Path.Combine(BasePath, Trash)), runId.ToString("N")));
            if (runFolder.Exists && !runFolder.EnumerateFiles("*", SearchOption.AllDirectories).Any())
            {
                runFolder.Delete(recursive: true);
            }
        }
        catch (IOException)
        {
            // An empty folder left behind harms nothing.
        }
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex SafeFileName();

    [GeneratedRegex("^([0-9]{4})([0-9]{2})[0-9]{2}_[0-9]{6}_")]
    private static partial Regex FolderNameDate();
}
