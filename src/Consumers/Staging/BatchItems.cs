using System.Text.Json;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Staging;

/// <summary>What a batch's <c>items</c> field holds.</summary>
public enum ItemsKind
{
    /// <summary>No <c>items</c> field: read as an empty list (the contract's default).</summary>
    Absent,
    /// <summary><c>"items": null</c>: the batch is refused whole (INVALID_BATCH).</summary>
    Null,
    /// <summary>A JSON array: the items to read.</summary>
    Array,
    /// <summary>Anything else: the batch is unreadable.</summary>
    Other,
}

/// <summary>
/// Where a batch's <c>items</c> array is in the message body as received: in <c>message</c> for MassTransit's envelope, at
/// the top level for plain JSON. Property names match ignoring case and the last of a repeated name wins, as
/// System.Text.Json reads a message for MassTransit. Found by a forward scan that skips every other value and allocates
/// nothing, so the items can be read once, from the bytes, by <see cref="BatchValidation"/>.
/// </summary>
/// <param name="Body">The whole message body as received.</param>
/// <param name="Depth">How deep the <c>items</c> value is in the body (2 in the envelope, 1 in plain JSON).</param>
public sealed record BatchItems(ReadOnlyMemory<byte> Body, ItemsKind Kind, int Start, int Length, int Depth = 0)
{
    /// <summary>As lenient as MassTransit's reading of a message (comments and trailing commas allowed), and as deep.</summary>
    public static JsonReaderOptions ReaderOptions => new()
    {
        AllowTrailingCommas = MassTransit.Serialization.SystemTextJsonMessageSerializer.Options.AllowTrailingCommas,
        CommentHandling = MassTransit.Serialization.SystemTextJsonMessageSerializer.Options.ReadCommentHandling,
        MaxDepth = BusConfiguration.MaxJsonDepth,
    };

    /// <summary>The bytes of the <c>items</c> value (empty unless <see cref="Kind"/> is <see cref="ItemsKind.Array"/>).</summary>
    public ReadOnlyMemory<byte> Json => Kind == ItemsKind.Array ? Body.Slice(Start, Length) : ReadOnlyMemory<byte>.Empty;

    /// <summary>
    /// Finds the items of <paramref name="body"/>; <paramref name="envelope"/>: the body is MassTransit's envelope. Throws
    /// <see cref="JsonException"/> when the body is not JSON, or nests deeper than a message may.
    /// </summary>
    public static BatchItems Locate(ReadOnlyMemory<byte> body, bool envelope)
    {
        var reader = new Utf8JsonReader(body.Span, ReaderOptions);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("the message body is not a JSON object");
        }

        var found = new BatchItems(body, ItemsKind.Absent, 0, 0);
        while (Read(ref reader) == JsonTokenType.PropertyName)
        {
            if (envelope && Is(ref reader, "message"u8, "message"))
            {
                Read(ref reader);
                found = reader.TokenType == JsonTokenType.StartObject ? InMessage(ref reader, body) : Skipped(ref reader, body);
            }
            else if (!envelope && Is(ref reader, "items"u8, "items"))
            {
                Read(ref reader);
                found = Value(ref reader, body);
            }
            else
            {
                Read(ref reader);
                reader.Skip();
            }
        }

        return found;
    }

    /// <summary>The <c>items</c> of the envelope's <c>message</c> object; the reader ends on the object's end.</summary>
    private static BatchItems InMessage(ref Utf8JsonReader reader, ReadOnlyMemory<byte> body)
    {
        var found = new BatchItems(body, ItemsKind.Absent, 0, 0);
        while (Read(ref reader) == JsonTokenType.PropertyName)
        {
            var isItems = Is(ref reader, "items"u8, "items");
            Read(ref reader);
            if (isItems)
            {
                found = Value(ref reader, body);
            }
            else
            {
                reader.Skip();
            }
        }

        return found;
    }

    private static BatchItems Skipped(ref Utf8JsonReader reader, ReadOnlyMemory<byte> body)
    {
        reader.Skip();
        return new BatchItems(body, ItemsKind.Absent, 0, 0);
    }

    /// <summary>The value the reader is on; the reader ends on its last token.</summary>
    private static BatchItems Value(ref Utf8JsonReader reader, ReadOnlyMemory<byte> body)
    {
        var kind = reader.TokenType switch
        {
            JsonTokenType.StartArray => ItemsKind.Array,
            JsonTokenType.Null => ItemsKind.Null,
            _ => ItemsKind.Other,
        };
        var start = (int)reader.TokenStartIndex;
        var depth = reader.CurrentDepth;
        reader.Skip();
        return new BatchItems(body, kind, start, (int)reader.BytesConsumed - start, depth);
    }

    private static JsonTokenType Read(ref Utf8JsonReader reader) =>
        reader.Read() ? reader.TokenType : throw new JsonException("the message body ends too early");

    private static bool Is(ref Utf8JsonReader reader, ReadOnlySpan<byte> lower, string name)
    {
        if (!reader.ValueIsEscaped && reader.ValueSpan.Length == lower.Length && System.Text.Ascii.IsValid(reader.ValueSpan))
        {
            return System.Text.Ascii.EqualsIgnoreCase(reader.ValueSpan, lower);
        }

        try
        {
            return reader.ValueSpan.Length >= lower.Length && string.Equals(reader.GetString(), name, StringComparison.OrdinalIgnoreCase);
        }
        catch (InvalidOperationException)
        {
            // A name that is not valid UTF-8 is none of ours; System.Text.Json skips it the same way.
            return false;
        }
    }
}
