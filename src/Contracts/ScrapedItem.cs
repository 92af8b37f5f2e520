using System.Text.Json;
using System.Text.Json.Serialization;

namespace RunSaga.Contracts;

/// <summary>
/// One scraped record inside <see cref="ItemsScraped"/>, identified within its source by <see cref="Key"/>.
/// An item carrying <see cref="Error"/> keeps the item's previous content and marks it <c>error</c>.
/// </summary>
[JsonConverter(typeof(ScrapedItemConverter))]
public sealed record ScrapedItem
{
    public string? Key { get; init; }
    public string? Title { get; init; }
    public string? Url { get; init; }
    /// <summary>Any JSON object; anything else (array, string, number) rejects the item.</summary>
    public JsonElement? Data { get; init; }
    public string? Error { get; init; }

    /// <summary>
    /// Set when the item could not be read as sent (a field of the wrong JSON type, not an object, invalid Unicode):
    /// the item is rejected with this reason, the rest of its batch is staged. Never written.
    /// </summary>
    [JsonIgnore]
    public string? ReadProblem { get; init; }
}
