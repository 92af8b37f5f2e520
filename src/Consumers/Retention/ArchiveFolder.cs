using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RunSaga.Shared.Hosting;

namespace RunSaga.Consumers.Retention;

/// <summary>
/// The files under ARCHIVE_BASE_PATH: where a run's archive goes (<c>{YYYY}/{MM}/{name}{ext}</c>), its partial files
/// while it is written, and the trash (<c>.trash/</c> + the same relative path) where a soft deletion puts it until
/// TRASH_KEEP_DAYS have passed. No database work here: callers hold the run's locks.
/// </summary>
public sealed partial class ArchiveFolder(IOptions<RetentionOptions> options, ILogger<ArchiveFolder> logger)
{
    /// <summary>The trash's folder name under ARCHIVE_BASE_PATH.</summary>
    public const string Trash = ".trash";

    private string BasePath => options.Value.ArchiveBasePath;

    /// <summary>The archive file's absolute path for a stored (relative) <c>archive_path</c>.</summary>
    public string FullPath(string relative) => Path.GetFullPath(Path.Combine(BasePath, relative));

    /// <summary>Where a soft-deleted run's archive waits for undeletion.</summary>
    public string TrashPath(string relative) => Path.GetFullPath(Path.Combine(BasePath, Trash, relative));

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
    /// Moves a soft-deleted run's archive into the trash (after the deletion committed). If that fails the file stays
    /// where it was, which undeletion and the trash purge both look at too.
    /// </summary>
    public void MoveToTrash(string relative, Guid runId, string? source)
    {
        try
        {
            var target = TrashPath(relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Move(FullPath(relative), target, overwrite: true);
            DirectorySync.Flush(Path.GetDirectoryName(target)!);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            using var scope = RunLogScope.Begin(runId, source);
            logger.LogError(ex, "Could not move the archive {File} into {Trash}; it stays where it is until the trash is purged", FullPath(relative), Trash);
        }
    }

    /// <summary>Where a soft-deleted run's archive is now: in the trash, or still in place (a move that never happened); null when gone.</summary>
    public string? LocateDeleted(string relative) =>
        File.Exists(TrashPath(relative)) ? TrashPath(relative) : File.Exists(FullPath(relative)) ? FullPath(relative) : null;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex SafeFileName();

    [GeneratedRegex("^([0-9]{4})([0-9]{2})[0-9]{2}_[0-9]{6}_")]
    private static partial Regex FolderNameDate();
}
