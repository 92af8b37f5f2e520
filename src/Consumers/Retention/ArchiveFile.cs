using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using ZstdSharp;

namespace RunSaga.Consumers.Retention;

/// <summary>What an archive file holds, as checked after writing and before a restore.</summary>
/// <param name="ItemsSha256">SHA-256 (hex) of <c>items.jsonl</c>.</param>
public sealed record ArchiveContents(int Items, string ItemsSha256, int Batches, string BatchesSha256, bool HasRunJson);

/// <summary>
/// A run's archive: a tar stream, compressed with gzip, brotli or zstd, holding <c>run.json</c> (the run's row),
/// <c>batches.jsonl</c> and <c>items.jsonl</c> (one staging row per line, as PostgreSQL's <c>row_to_json</c>
/// writes it, so a restore puts back exactly the same values).
/// </summary>
public static class ArchiveFile
{
    public const string RunEntry = "run.json";
    public const string BatchesEntry = "batches.jsonl";
    public const string ItemsEntry = "items.jsonl";

    public static string Extension(string compression) => compression switch
    {
        "gzip" => ".tar.gz",
        "brotli" => ".tar.br",
        "zstd" => ".tar.zst",
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, "ARCHIVE_COMPRESSION must be gzip, brotli or zstd"),
    };

    /// <summary>
    /// Writes the archive to <paramref name="path"/> and flushes it to disk. The entries' data come from files
    /// (items and batches can be large) and <paramref name="runJson"/>.
    /// </summary>
    public static void Write(string path, string compression, string runJson, string batchesFile, string itemsFile, DateTimeOffset modified)
    {
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        {
            using (var compressed = Compress(file, compression))
            using (var tar = new TarWriter(compressed, TarEntryFormat.Pax, leaveOpen: true))
            {
                using var run = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(runJson));
                WriteEntry(tar, RunEntry, run, modified);
                using var batches = File.OpenRead(batchesFile);
                WriteEntry(tar, BatchesEntry, batches, modified);
                using var items = File.OpenRead(itemsFile);
                WriteEntry(tar, ItemsEntry, items, modified);
            }

            file.Flush(flushToDisk: true);
        }
    }

    /// <summary>Reads the whole archive back: entry by entry, line by line, hashing what it reads.</summary>
    public static ArchiveContents Read(string path)
    {
        var (items, itemsHash, batches, batchesHash, hasRun) = (0, "", 0, "", false);
        ForEachEntry(path, (name, data) =>
        {
            switch (name)
            {
                case RunEntry:
                    hasRun = true;
                    break;
                case ItemsEntry:
                    (items, itemsHash) = CountAndHash(data);
                    break;
                case BatchesEntry:
                    (batches, batchesHash) = CountAndHash(data);
                    break;
            }
        });
        return new ArchiveContents(items, itemsHash, batches, batchesHash, hasRun);
    }

    /// <summary>
    /// Every line of <c>items.jsonl</c> (as <c>items</c>) and <c>batches.jsonl</c> (as <c>batches</c>), in file order,
    /// streamed from the archive. Invalid UTF-8 throws: nothing RunSaga wrote can contain it.
    /// </summary>
    public static void ReadLines(string path, Action<string, string> line)
    {
        ForEachEntry(path, (name, data) =>
        {
            var entry = name switch { ItemsEntry => "items", BatchesEntry => "batches", _ => null };
            if (entry is null)
            {
                return;
            }

            using var reader = new StreamReader(data, new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true));
            while (reader.ReadLine() is { } text)
            {
                line(entry, text);
            }
        });
    }

    /// <summary>Lines (newline-terminated) and SHA-256 of a stream, read to its end.</summary>
    public static (int Lines, string Sha256) CountAndHash(Stream data)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        var lines = 0;
        int read;
        while ((read = data.Read(buffer, 0, buffer.Length)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            lines += buffer.AsSpan(0, read).Count((byte)'\n');
        }

        return (lines, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    public static string FileSha256(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(file));
    }

    private static void ForEachEntry(string path, Action<string, Stream> visit)
    {
        using var file = File.OpenRead(path);
        using var decompressed = Decompress(file, path);
        using var tar = new TarReader(decompressed);
        while (tar.GetNextEntry() is { } entry)
        {
            if (entry.DataStream is { } data)
            {
                visit(entry.Name, data);
            }
        }
    }

    private static void WriteEntry(TarWriter tar, string name, Stream data, DateTimeOffset modified)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = data, ModificationTime = modified };
        tar.WriteEntry(entry);
    }

    private static Stream Compress(Stream file, string compression) => compression switch
    {
        "gzip" => new GZipStream(file, CompressionLevel.Optimal, leaveOpen: true),
        "brotli" => new BrotliStream(file, CompressionLevel.Optimal, leaveOpen: true),
        "zstd" => new CompressionStream(file, level: 3, leaveOpen: true),
        _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, "ARCHIVE_COMPRESSION must be gzip, brotli or zstd"),
    };

    /// <summary>By the file's extension, so archives written under an earlier ARCHIVE_COMPRESSION still restore.</summary>
    private static Stream Decompress(Stream file, string path) =>
        path.EndsWith(".tar.gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionMode.Decompress)
        : path.EndsWith(".tar.br", StringComparison.Ordinal) ? new BrotliStream(file, CompressionMode.Decompress)
        : path.EndsWith(".tar.zst", StringComparison.Ordinal) ? new DecompressionStream(file)
        : throw new InvalidDataException($"{path} is not a RunSaga archive (.tar.gz, .tar.br or .tar.zst)");
}
