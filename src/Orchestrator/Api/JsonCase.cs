using System.Text.Json;
using System.Text.Json.Nodes;

namespace RunSaga.Orchestrator.Api;

/// <summary>
/// JSON stored with snake_case keys (a run's step records, a deleted run's row) as the API speaks it: camelCase keys,
/// like every other field.
/// </summary>
public static class JsonCase
{
    /// <param name="nested">Also the keys of nested objects (RunSaga's own records); false leaves nested values as they
    /// are, e.g. a requester's metadata inside a run's row.</param>
    public static JsonElement CamelCased(string json, bool nested = true) =>
        JsonSerializer.SerializeToElement(CamelCase(JsonNode.Parse(json, documentOptions: DeepJson), nested ? int.MaxValue : 1));

    private static readonly JsonDocumentOptions DeepJson = new() { MaxDepth = RunSaga.Shared.Messaging.BusConfiguration.MaxJsonDepth };

    private static JsonNode? CamelCase(JsonNode? node, int depth) => node switch
    {
        _ when depth == 0 => node?.DeepClone(),
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(CamelCase(p.Key), CamelCase(p.Value, depth - 1)))),
        JsonArray a => new JsonArray([.. a.Select(x => CamelCase(x, depth - 1))]),
        _ => node?.DeepClone(),
    };

    private static string CamelCase(string key)
    {
        var parts = key.Split('_', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length <= 1 ? key : parts[0] + string.Concat(parts.Skip(1).Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
    }
}
