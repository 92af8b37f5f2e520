using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Npgsql;

namespace RunSaga.Consumers.Staging;

/// <summary>
/// A batch's valid items as one binary COPY into <c>staged_items</c> (<see cref="StagingSql.CopyItems"/>), written in
/// PostgreSQL's binary COPY format by hand: each field is its length and its bytes, <c>data</c> the bytes the scraper sent
/// behind jsonb's version byte. Rows are built in a pooled buffer and sent in chunks; nothing per row but the key and text
/// fields' UTF-8.
/// <para>
/// The format (PostgreSQL's "Binary Format" of COPY): the signature <c>PGCOPY\n\377\r\n\0</c>, a 32-bit flags field and a
/// 32-bit header extension length (both 0); per row a 16-bit field count, then per field a 32-bit length (-1 for NULL) and
/// that many bytes; a 16-bit -1 at the end. Integers are big-endian. uuid is its 16 bytes in RFC 4122 order, text its
/// UTF-8, jsonb a version byte (1) and the JSON text, timestamptz microseconds since 2000-01-01 UTC as a 64-bit integer.
/// </para>
/// </summary>
public static class StagingCopy
{
    private const int Fields = 8;
    private const int ChunkBytes = 128 * 1024;
    private const byte JsonbVersion = 1;

    private static ReadOnlySpan<byte> Signature => [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', (byte)'\n', 0xFF, (byte)'\r', (byte)'\n', 0];

    private static readonly DateTime PostgresEpoch = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>
    /// COPYs <paramref name="items"/> of batch <paramref name="batchId"/> into staging. A unique violation (a key staged
    /// before) is thrown when the COPY ends, as a <see cref="PostgresException"/>.
    /// </summary>
    public static async Task WriteAsync(
        NpgsqlConnection connection, Guid runId, string batchId, IReadOnlyList<ValidItem> items, DateTime stagedAt, CancellationToken cancellationToken)
    {
        var chunk = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            await using var copy = await connection.BeginRawBinaryCopyAsync(StagingSql.CopyItems, cancellationToken);
            try
            {
                var batch = Encoding.UTF8.GetBytes(batchId);
                var micros = (stagedAt.ToUniversalTime() - PostgresEpoch).Ticks / 10;
                var used = Header(chunk);
                foreach (var item in items)
                {
                    var size = RowSize(item, batch.Length);
                    if (size > chunk.Length - used)
                    {
                        await copy.WriteAsync(chunk.AsMemory(0, used), cancellationToken);
                        used = 0;
                    }

                    if (size > chunk.Length)
                    {
                        // A row larger than a chunk (data of megabytes): its own buffer, once.
                        var large = new byte[size];
                        var written = Row(large, runId, item, batch, micros);
                        await copy.WriteAsync(large.AsMemory(0, written), cancellationToken);
                        continue;
                    }

                    used += Row(chunk.AsSpan(used), runId, item, batch, micros);
                }

                if (chunk.Length - used < 2)
                {
                    await copy.WriteAsync(chunk.AsMemory(0, used), cancellationToken);
                    used = 0;
                }

                BinaryPrimitives.WriteInt16BigEndian(chunk.AsSpan(used), -1);
                await copy.WriteAsync(chunk.AsMemory(0, used + 2), cancellationToken);
            }
            catch (Exception ex) when (ex is not PostgresException)
            {
                // Our side failed mid-stream: end the COPY with CopyFail, so no row of it stays even in this transaction.
                // The first failure is the one that counts: a broken connection fails the cancel too, and a unique
                // violation PostgreSQL raised meanwhile must not turn this failure into the upsert's fallback.
                try
                {
                    await copy.CancelAsync();
                }
                catch (Exception)
                {
                    // The transaction is not committed either way.
                }

                throw;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private static int Header(Span<byte> buffer)
    {
        Signature.CopyTo(buffer);
        BinaryPrimitives.WriteInt32BigEndian(buffer[Signature.Length..], 0);
        BinaryPrimitives.WriteInt32BigEndian(buffer[(Signature.Length + 4)..], 0);
        return Signature.Length + 8;
    }

    /// <summary>The row's size in the format: an upper bound where UTF-8 is concerned (3 bytes per UTF-16 unit).</summary>
    private static int RowSize(ValidItem item, int batchBytes) =>
        2 + (4 + 16) + (4 + MaxUtf8(item.Key)) + (4 + batchBytes) + (4 + MaxUtf8(item.Title)) + (4 + MaxUtf8(item.Url))
        + (4 + (item.Data is { } data ? 1 + data.Length : 0)) + (4 + MaxUtf8(item.Error)) + (4 + 8);

    private static int MaxUtf8(string? value) => value is null ? 0 : value.Length * 3;

    private static int Row(Span<byte> buffer, Guid runId, ValidItem item, byte[] batch, long micros)
    {
        BinaryPrimitives.WriteInt16BigEndian(buffer, Fields);
        var at = 2;

        BinaryPrimitives.WriteInt32BigEndian(buffer[at..], 16);
        runId.TryWriteBytes(buffer[(at + 4)..], bigEndian: true, out _);
        at += 4 + 16;

        at += Text(buffer[at..], item.Key);

        BinaryPrimitives.WriteInt32BigEndian(buffer[at..], batch.Length);
        batch.CopyTo(buffer[(at + 4)..]);
        at += 4 + batch.Length;

        at += Text(buffer[at..], item.Title);
        at += Text(buffer[at..], item.Url);

        if (item.Data is { } data)
        {
            BinaryPrimitives.WriteInt32BigEndian(buffer[at..], 1 + data.Length);
            buffer[at + 4] = JsonbVersion;
            data.Span.CopyTo(buffer[(at + 5)..]);
            at += 5 + data.Length;
        }
        else
        {
            BinaryPrimitives.WriteInt32BigEndian(buffer[at..], -1);
            at += 4;
        }

        at += Text(buffer[at..], item.Error);

        BinaryPrimitives.WriteInt32BigEndian(buffer[at..], 8);
        BinaryPrimitives.WriteInt64BigEndian(buffer[(at + 4)..], micros);
        return at + 4 + 8;
    }

    /// <summary>A text field: its UTF-8 behind its length, or NULL.</summary>
    private static int Text(Span<byte> buffer, string? value)
    {
        if (value is null)
        {
            BinaryPrimitives.WriteInt32BigEndian(buffer, -1);
            return 4;
        }

        var written = Encoding.UTF8.GetBytes(value, buffer[4..]);
        BinaryPrimitives.WriteInt32BigEndian(buffer, written);
        return 4 + written;
    }
}
