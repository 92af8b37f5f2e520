using System.Text.Json;

namespace RunSaga.Cli;

/// <summary>Tables for people (default), the API's JSON for scripts (<c>--json</c>).</summary>
public static class Output
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, MaxDepth = 256 };

    public static void Json(TextWriter output, JsonElement value) => output.WriteLine(JsonSerializer.Serialize(value, Indented));

    /// <summary>One row per element, one column per (header, path); a path is dotted (<c>counts.inserted</c>).</summary>
    public static void Table(TextWriter output, IEnumerable<JsonElement> rows, params (string Header, string Path)[] columns)
    {
        var cells = rows.Select(row => columns.Select(c => Text(Find(row, c.Path))).ToArray()).ToList();
        var widths = columns.Select((c, i) => Math.Max(c.Header.Length, cells.Count == 0 ? 0 : cells.Max(r => r[i].Length))).ToArray();
        output.WriteLine(string.Join("  ", columns.Select((c, i) => c.Header.PadRight(widths[i]))).TrimEnd());
        foreach (var row in cells)
        {
            output.WriteLine(string.Join("  ", row.Select((cell, i) => cell.PadRight(widths[i]))).TrimEnd());
        }
    }

    /// <summary>Field: value lines for one object.</summary>
    public static void Fields(TextWriter output, JsonElement value, params (string Label, string Path)[] fields)
    {
        var width = fields.Max(f => f.Label.Length);
        foreach (var (label, path) in fields)
        {
            output.WriteLine($"{(label + ":").PadRight(width + 1)} {Text(Find(value, path))}");
        }
    }

    public static JsonElement? Find(JsonElement value, string path)
    {
        var current = value;
        foreach (var part in path.Split('.'))
        {
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(part, out current))
            {
                return null;
            }
        }

        return current;
    }

    private static string Text(JsonElement? value) => value switch
    {
        null => "",
        { ValueKind: JsonValueKind.Null or JsonValueKind.Undefined } => "",
        { ValueKind: JsonValueKind.String } v => v.GetString()!,
        { } v => v.GetRawText(),
    };
}
