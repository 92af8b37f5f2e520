using System.Text.Json;
using System.Text.Json.Nodes;

namespace RunSaga.Orchestrator.Api;

/// <summary>
/// JSON stored with snake_case keys (a run's step records, a deleted run's row) as the API speaks it: camelCase keys,
/// like every other field.
/// </summary>
public static class JsonCase
{
    public static JsonElement CamelCased(string json) =>
        JsonSerializer.SerializeToElement(CamelCase(JsonNode.Parse(json, documentOptions: DeepJson)));

    private static readonly JsonDocumentOptions DeepJson = new() { MaxDepth = RunSaga.Shared.Messaging.BusConfiguration.MaxJsonDepth };

    private static JsonNode? CamelCase(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(CamelCase(p.Key), CamelCase(p.Value?.DeepClone())))),
        JsonArray a => new JsonArray([.. a.Select(x => CamelCase(x?.DeepClone()))]),
        _ => node,
    };

    private static string CamelCase(string key)
    {
        var parts = key.Split('_', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length <= 1 ? key : parts[0] + string.Concat(parts.Skip(1).Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
    }
}
