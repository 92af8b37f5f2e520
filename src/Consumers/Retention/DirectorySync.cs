using System.Runtime.InteropServices;

namespace RunSaga.Consumers.Retention;

/// <summary>
/// fsync of a folder, so that a file created or renamed in it survives a power loss, not only a process crash
/// (.NET flushes files but has no call for folders). Linux only; elsewhere a no-op.
/// </summary>
internal static partial class DirectorySync
{
    /// <summary>Flushes <paramref name="folder"/> and each parent up to and including <paramref name="root"/>.</summary>
    public static void FlushUpTo(string folder, string root)
    {
        var stop = Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar);
        for (var current = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar);
             current.Length >= stop.Length;
             current = Path.GetDirectoryName(current) ?? "")
        {
            Flush(current);
            if (current == stop)
            {
                break;
            }
        }
    }

    public static void Flush(string folder)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var fd = Open(folder, 0); // O_RDONLY: enough to fsync a folder
        if (fd < 0)
        {
            throw new IOException($"cannot open the folder {folder} to flush it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"fsync of the folder {folder} failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
