using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using RunSaga.Contracts;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Staging;

/// <summary>One item that will be staged: its key is valid and unique within the batch.</summary>
/// <param name="Data">The item's JSON object, the exact UTF-8 bytes received (PostgreSQL normalises it as jsonb), or null.</param>
public sealed record ValidItem(string Key, string? Title, string? Url, ReadOnlyMemory<byte>? Data, string? Error);

/// <summary>One refused item, as listed in <c>staged_batches.rejections</c>.</summary>
public sealed record RejectedItem(string? Key, string Reason);

/// <summary>A batch split into what is staged and what is not.</summary>
/// <param name="Items">The valid items, the last occurrence of each key, sorted by key (ordinal).</param>
/// <param name="ItemCount">Items in the message: valid, rejected and duplicates alike.</param>
/// <param name="DuplicatesInBatch">Earlier copies of a key repeated later in the same batch.</param>
public sealed record ValidatedBatch(
    IReadOnlyList<ValidItem> Items,
    IReadOnlyList<RejectedItem> Rejections,
    int ItemCount,
    int DuplicatesInBatch);

/// <summary>
/// Item rules: what PostgreSQL and the current-state tables can hold. A rejected item is counted and listed
/// with its reason; the rest of its batch is staged.
/// <para>
/// A batch's <c>items</c> array is read in one forward pass over the bytes as received (<see cref="Validate(ReadOnlyMemory{byte})"/>):
/// each item's fields are checked as they are read, and its <c>data</c> is checked in the same pass and kept as the slice of
/// the message it came in, which goes to PostgreSQL as it is. No document is built, per item or per batch. Fields are
/// matched ignoring case, and the last of a repeated field wins, as <see cref="ScrapedItemConverter"/> reads them.
/// </para>
/// </summary>
public static class BatchValidation
{
    public const int MaxKeyLength = 1024;
    /// <summary>
    /// A key is part of three btree indexes; PostgreSQL refuses an index row over 2704 bytes (error 54000, which
    /// would send the whole batch to the error queue). 1024 characters of CJK text are 3072 bytes.
    /// </summary>
    public const int MaxKeyBytes = 2048;
    /// <summary>Keys in the rejection list are cut to this length.</summary>
    public const int RejectedKeyDisplayLength = 200;

    public const string MissingKey = "missing key";
    public const string KeyTooLong = "key longer than 1024 characters";
    public const string KeyTooManyBytes = "key longer than 2048 bytes in UTF-8";
    public const string InvalidUnicode = "data contains invalid Unicode (an unpaired surrogate escape)";
    public const string InvalidUtf8 = "data contains invalid UTF-8";
    public const string NotStrictJson = "data is not strict JSON (a comment or a trailing comma), which jsonb cannot read";
    public const string DataNotObject = "data must be a JSON object";
    public const string ContainsNul = "contains a NUL character";
    public const string NullItem = "the item is null";
    public const string DataTooDeep = "data nested deeper than 64 levels";

    /// <summary>
    /// How deep an item's data may nest (objects and arrays), as System.Text.Json reads and writes by default: deeper
    /// data would break readers of <c>projects</c>. A message is read up to <see cref="BusConfiguration.MaxJsonDepth"/>
    /// levels, so a deeper item is rejected alone rather than taking its batch to the error queue.
    /// </summary>
    public const int MaxDataDepth = 64;

    /// <summary>How deep the items array is in MassTransit's envelope (<c>{"message": {"items": […]}}</c>).</summary>
    private const int EnvelopeItemsDepth = 2;

    /// <summary>The same rules for a batch built in process: its items are written as a scraper would send them, then read.</summary>
    public static ValidatedBatch Validate(ItemsScraped batch) => Validate(Written(batch.Items ?? []));

    /// <summary>Items as a scraper would send them; each data as its own bytes (even data jsonb refuses, to be rejected).</summary>
    private static byte[] Written(IReadOnlyList<ScrapedItem?> items)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartArray();
            foreach (var item in items)
            {
                if (item is null)
                {
                    writer.WriteNullValue();
                    continue;
                }

                writer.WriteStartObject();
                WriteString("key", item.Key);
                WriteString("title", item.Title);
                WriteString("url", item.Url);
                WriteString("error", item.Error);
                if (item.Data is { ValueKind: not JsonValueKind.Undefined } data)
                {
                    writer.WritePropertyName("data");
                    writer.WriteRawValue(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(data), skipInputValidation: true);
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();

            void WriteString(string name, string? value)
            {
                if (value is not null)
                {
                    writer.WriteString(name, value);
                }
            }
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Reads a batch's <c>items</c>: the bytes of one JSON array as received, <paramref name="depth"/> levels deep in its
    /// message. Throws <see cref="JsonException"/> when they are not JSON, or nest deeper than a message may
    /// (<see cref="BusConfiguration.MaxJsonDepth"/>): the batch is unreadable. Every other problem rejects one item.
    /// </summary>
    public static ValidatedBatch Validate(ReadOnlyMemory<byte> items, int depth = EnvelopeItemsDepth)
    {
        // As lenient as MassTransit between items and fields; inside data, comments are seen (jsonb refuses them).
        var reader = new Utf8JsonReader(items.Span, new JsonReaderOptions
        {
            MaxDepth = BusConfiguration.MaxJsonDepth - depth,
            AllowTrailingCommas = BatchItems.ReaderOptions.AllowTrailingCommas,
            CommentHandling = BatchItems.ReaderOptions.CommentHandling == JsonCommentHandling.Disallow ? JsonCommentHandling.Disallow : JsonCommentHandling.Allow,
        });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException("items must be a JSON array");
        }

        var rejections = new List<RejectedItem>();
        // Last occurrence wins: a later copy replaces the earlier one in place.
        var byKey = new Dictionary<string, ValidItem>(StringComparer.Ordinal);
        var duplicates = 0;
        var count = 0;
        while (Next(ref reader) != JsonTokenType.EndArray)
        {
            count++;
            var item = ReadItem(ref reader, items);
            if (Reject(item) is { } reason)
            {
                rejections.Add(new RejectedItem(DisplayKey(item.Key), reason));
                continue;
            }

            var valid = new ValidItem(
                item.Key!,
                item.Title,
                item.Url,
                item.DataKind == JsonTokenType.StartObject ? item.Data : null,
                // An empty error string is no error: it would mark the item failed with nothing to act on.
                string.IsNullOrEmpty(item.Error) ? null : item.Error);
            if (!byKey.TryAdd(valid.Key, valid))
            {
                byKey[valid.Key] = valid;
                duplicates++;
            }
        }

        // A stable order, so concurrent batches of one run take their row locks in the same order.
        var staged = byKey.Values.ToArray();
        Array.Sort(staged, (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return new ValidatedBatch(staged, rejections, count, duplicates);
    }

    /// <summary>One item as read: its fields, the first problem met while reading it, and where its data is.</summary>
    private struct ReadItemFields
    {
        public bool IsNull;
        public string? Key, Title, Url, Error;
        public string? ReadProblem;
        public string? DataProblem;
        public JsonTokenType DataKind;
        public ReadOnlyMemory<byte>? Data;
    }

    /// <summary>The next token that is not a comment.</summary>
    private static JsonTokenType Next(ref Utf8JsonReader reader)
    {
        var comment = false;
        return Next(ref reader, ref comment);
    }

    /// <summary>The next token that is not a comment; <paramref name="comment"/> is set when one was passed.</summary>
    private static JsonTokenType Next(ref Utf8JsonReader reader, ref bool comment)
    {
        do
        {
            if (!reader.Read())
            {
                throw new JsonException("the items array is not closed");
            }

            comment |= reader.TokenType == JsonTokenType.Comment;
        }
        while (reader.TokenType == JsonTokenType.Comment);

        return reader.TokenType;
    }

    private static ReadItemFields ReadItem(ref Utf8JsonReader reader, ReadOnlyMemory<byte> items)
    {
        var item = default(ReadItemFields);
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                item.IsNull = true;
                return item;
            case JsonTokenType.StartObject:
                break;
            default:
                item.ReadProblem = $"the item must be a JSON object, not {Describe(reader.TokenType)}";
                reader.Skip();
                return item;
        }

        while (Next(ref reader) != JsonTokenType.EndObject)
        {
            var field = FieldOf(ref reader);
            Next(ref reader);
            switch (field)
            {
                case Field.Key:
                    item.Key = ReadString(ref reader, "key", ref item.ReadProblem);
                    break;
                case Field.Title:
                    item.Title = ReadString(ref reader, "title", ref item.ReadProblem);
                    break;
                case Field.Url:
                    item.Url = ReadString(ref reader, "url", ref item.ReadProblem);
                    break;
                case Field.Error:
                    item.Error = ReadString(ref reader, "error", ref item.ReadProblem);
                    break;
                case Field.Data:
                    ReadData(ref reader, items, ref item);
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        return item;
    }

    private enum Field { Other, Key, Title, Url, Error, Data }

    /// <summary>Which item field a property name is, ignoring case (as the converter's <c>ToLowerInvariant</c> does).</summary>
    private static Field FieldOf(ref Utf8JsonReader reader)
    {
        var raw = reader.ValueSpan;
        if (!reader.ValueIsEscaped && raw.Length <= 5 && System.Text.Ascii.IsValid(raw))
        {
            Span<byte> lower = stackalloc byte[5];
            System.Text.Ascii.ToLower(raw, lower, out var written);
            return Match(lower[..written]);
        }

        if (!reader.ValueIsEscaped && System.Text.Ascii.IsValid(raw))
        {
            return Field.Other;
        }

        string name;
        try
        {
            name = reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw new JsonException("an item has a property name that is not valid UTF-8");
        }

        return Match(Encoding.UTF8.GetBytes(name.ToLowerInvariant()));

        static Field Match(ReadOnlySpan<byte> name) =>
            name.SequenceEqual("key"u8) ? Field.Key
            : name.SequenceEqual("title"u8) ? Field.Title
            : name.SequenceEqual("url"u8) ? Field.Url
            : name.SequenceEqual("error"u8) ? Field.Error
            : name.SequenceEqual("data"u8) ? Field.Data
            : Field.Other;
    }

    private static string? ReadString(ref Utf8JsonReader reader, string field, ref string? problem)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                try
                {
                    return reader.GetString();
                }
                catch (InvalidOperationException)
                {
                    problem ??= $"{field} is not valid Unicode (invalid UTF-8, or an unpaired surrogate escape)";
                    return null;
                }

            case JsonTokenType.Null:
                return null;
            default:
                problem ??= $"{field} must be a JSON string (or null), not {Describe(reader.TokenType)}";
                reader.Skip();
                return null;
        }
    }

    /// <summary>
    /// The item's data: where it is in the message, and whether jsonb can hold it and it nests at most 64 levels, in the
    /// same pass. Only an escaped string can hold a NUL (<c>\u0000</c>) or an unpaired surrogate (<c>\ud800</c>), so only
    /// escaped strings are unescaped; raw control characters are not JSON, and invalid UTF-8 is looked for once, over the
    /// data's bytes. A repeated <c>data</c> field: the last wins, with its own problems.
    /// </summary>
    private static void ReadData(ref Utf8JsonReader reader, ReadOnlyMemory<byte> items, ref ReadItemFields item)
    {
        item.DataProblem = null;
        item.DataKind = reader.TokenType;
        item.Data = null;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return;
        }

        var start = (int)reader.TokenStartIndex;
        if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            var root = reader.CurrentDepth;
            var comment = false;
            do
            {
                if (item.DataProblem is not null)
                {
                    continue;
                }

                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray when reader.CurrentDepth - root >= MaxDataDepth:
                        item.DataProblem = DataTooDeep;
                        break;
                    case JsonTokenType.String or JsonTokenType.PropertyName when reader.ValueIsEscaped:
                        item.DataProblem = EscapedProblem(ref reader);
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray when comment || AfterComma(items.Span, (int)reader.TokenStartIndex):
                        item.DataProblem = NotStrictJson;
                        break;
                }
            }
            while (Next(ref reader, ref comment) is var token && !(reader.CurrentDepth == root && token is JsonTokenType.EndObject or JsonTokenType.EndArray));

            if (item.DataProblem is null && (comment || AfterComma(items.Span, (int)reader.TokenStartIndex)))
            {
                item.DataProblem = NotStrictJson;
            }
        }
        else if (reader.TokenType == JsonTokenType.String && reader.ValueIsEscaped)
        {
            item.DataProblem = EscapedProblem(ref reader);
        }

        var data = items[start..(int)reader.BytesConsumed];
        if (item.DataKind == JsonTokenType.StartObject)
        {
            item.DataProblem ??= Utf8.IsValid(data.Span) ? null : InvalidUtf8;
        }

        item.Data = data;
    }

    /// <summary>Whether the last thing before <paramref name="end"/> (a closing bracket), whitespace aside, is a comma.</summary>
    private static bool AfterComma(ReadOnlySpan<byte> json, int end)
    {
        var last = json[..end].TrimEnd(" \t\r\n"u8);
        return last.Length > 0 && last[^1] == (byte)',';
    }

    private static string? EscapedProblem(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.GetString()!.Contains('\0', StringComparison.Ordinal) ? ContainsNul : null;
        }
        catch (InvalidOperationException)
        {
            // GetString refuses an escaped unpaired surrogate ("\ud800"); so would jsonb.
            return InvalidUnicode;
        }
    }

    /// <summary>Why the item cannot be staged, or null when it can. The order of the checks is the order of the reasons operators see.</summary>
    private static string? Reject(in ReadItemFields item)
    {
        if (item.IsNull)
        {
            return NullItem;
        }

        if (item.ReadProblem is { } unreadable)
        {
            return unreadable;
        }

        if (string.IsNullOrWhiteSpace(item.Key))
        {
            return MissingKey;
        }

        if (item.Key.Length > MaxKeyLength)
        {
            return KeyTooLong;
        }

        if (Encoding.UTF8.GetByteCount(item.Key) > MaxKeyBytes)
        {
            return KeyTooManyBytes;
        }

        // PostgreSQL text and jsonb cannot hold U+0000. (Strings outside data with broken surrogates are a ReadProblem.)
        if (HasNul(item.Key) || HasNul(item.Title) || HasNul(item.Url) || HasNul(item.Error))
        {
            return ContainsNul;
        }

        if (item.DataProblem is { } problem)
        {
            return problem;
        }

        if (item.DataKind is not (JsonTokenType.None or JsonTokenType.Null or JsonTokenType.StartObject))
        {
            return DataNotObject;
        }

        return null;
    }

    private static bool HasNul(string? value) => value is not null && value.Contains('\0', StringComparison.Ordinal);

    private static string Describe(JsonTokenType token) => ScrapedItemConverter.Describe(token);

    /// <summary>The key as an operator reads it in the rejection list: cut short, NUL made visible (jsonb refuses it).</summary>
    private static string? DisplayKey(string? key)
    {
        if (key is null)
        {
            return null;
        }

        var shown = key.Length > RejectedKeyDisplayLength ? key[..RejectedKeyDisplayLength] : key;
        return shown.Replace('\0', '\u2400');
    }
}
