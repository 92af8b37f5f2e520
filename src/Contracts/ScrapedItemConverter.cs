using System.Text.Json;
using System.Text.Json.Serialization;

namespace RunSaga.Contracts;

/// <summary>
/// Reads one item of a batch leniently: a field of the wrong JSON type (a numeric <c>key</c>, an object as <c>title</c>),
/// an item that is not an object, or a string that is not valid Unicode makes that item alone unreadable
/// (<see cref="ScrapedItem.ReadProblem"/>, and the Consumers reject it with the reason) instead of making the whole
/// batch unreadable. Writes the plain shape (camelCase per the serializer's naming policy, nulls left out).
/// </summary>
public sealed class ScrapedItemConverter : JsonConverter<ScrapedItem>
{
    public override ScrapedItem? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            var kind = reader.TokenType;
            reader.Skip();
            return new ScrapedItem { ReadProblem = $"the item must be a JSON object, not {Describe(kind)}" };
        }

        string? key = null, title = null, url = null, error = null, problem = null;
        JsonElement? data = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString() ?? string.Empty;
            reader.Read();
            switch (name.ToLowerInvariant())
            {
                case "key":
                    key = ReadString(ref reader, "key", ref problem);
                    break;
                case "title":
                    title = ReadString(ref reader, "title", ref problem);
                    break;
                case "url":
                    url = ReadString(ref reader, "url", ref problem);
                    break;
                case "error":
                    error = ReadString(ref reader, "error", ref problem);
                    break;
                case "data":
                    data = reader.TokenType == JsonTokenType.Null ? null : JsonElement.ParseValue(ref reader);
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        return new ScrapedItem { Key = key, Title = title, Url = url, Data = data, Error = error, ReadProblem = problem };
    }

    public override void Write(Utf8JsonWriter writer, ScrapedItem value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        WriteString(writer, options, "Key", value.Key);
        WriteString(writer, options, "Title", value.Title);
        WriteString(writer, options, "Url", value.Url);
        if (value.Data is { } data)
        {
            writer.WritePropertyName(Name(options, "Data"));
            data.WriteTo(writer);
        }

        WriteString(writer, options, "Error", value.Error);
        writer.WriteEndObject();
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

    private static void WriteString(Utf8JsonWriter writer, JsonSerializerOptions options, string name, string? value)
    {
        if (value is not null)
        {
            writer.WriteString(Name(options, name), value);
        }
    }

    private static string Name(JsonSerializerOptions options, string name) => options.PropertyNamingPolicy?.ConvertName(name) ?? name;

    /// <summary>
    /// A JSON token as the rejection reasons name it ("a number", "an array"). The Consumers' own reader of a batch
    /// uses it too, so both paths give the same reason texts.
    /// </summary>
    public static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.String => "a string",
        _ => token.ToString(),
    };
}
