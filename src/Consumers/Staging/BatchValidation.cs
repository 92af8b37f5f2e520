using System.Text;
using System.Text.Json;
using System.Runtime.InteropServices;
using RunSaga.Contracts;

namespace RunSaga.Consumers.Staging;

/// <summary>One item that will be staged: its key is valid and unique within the batch.</summary>
/// <param name="Data">The item's JSON object as text (PostgreSQL normalises it as jsonb), or null.</param>
public sealed record ValidItem(string Key, string? Title, string? Url, string? Data, string? Error);

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
    public const string DataNotObject = "data must be a JSON object";
    public const string ContainsNul = "contains a NUL character";
    public const string NullItem = "the item is null";
    public const string DataTooDeep = "data nested deeper than 64 levels";

    /// <summary>
    /// How deep an item's data may nest (objects and arrays), as System.Text.Json reads and writes by default: deeper
    /// data would break readers of <c>projects</c>. A message is read up to <see cref="RunSaga.Shared.Messaging.BusConfiguration.MaxJsonDepth"/>
    /// levels, so a deeper item is rejected alone rather than taking its batch to the error queue.
    /// </summary>
    public const int MaxDataDepth = 64;

    public static ValidatedBatch Validate(ItemsScraped batch)
    {
        var items = batch.Items ?? [];
        var rejections = new List<RejectedItem>();
        // Last occurrence wins: a later copy replaces the earlier one in place.
        var byKey = new Dictionary<string, ValidItem>(StringComparer.Ordinal);
        var duplicates = 0;

        foreach (var item in items)
        {
            if (Reject(item) is { } reason)
            {
                rejections.Add(new RejectedItem(DisplayKey(item?.Key), reason));
                continue;
            }

            var valid = new ValidItem(
                item!.Key!,
                item.Title,
                item.Url,
                HasData(item.Data) ? item.Data!.Value.GetRawText() : null,
                // An empty error string is no error: it would mark the item failed with nothing to act on.
                string.IsNullOrEmpty(item.Error) ? null : item.Error);
            if (!byKey.TryAdd(valid.Key, valid))
            {
                byKey[valid.Key] = valid;
                duplicates++;
            }
        }

        // A stable order, so concurrent batches of one run take their row locks in the same order.
        var staged = byKey.Values.OrderBy(x => x.Key, StringComparer.Ordinal).ToList();
        return new ValidatedBatch(staged, rejections, items.Count, duplicates);
    }

    /// <summary>Why the item cannot be staged, or null when it can.</summary>
    public static string? Reject(ScrapedItem? item)
    {
        if (item is null)
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

        // PostgreSQL text and jsonb cannot hold U+0000. (Strings outside data with broken surrogates never get
        // here: the message does not deserialize, and lands in the error queue with the reason.)
        if (HasNul(item.Key) || HasNul(item.Title) || HasNul(item.Url) || HasNul(item.Error))
        {
            return ContainsNul;
        }

        if (HasData(item.Data) && DataProblem(item.Data!.Value) is { } problem)
        {
            return problem;
        }

        if (HasData(item.Data) && item.Data!.Value.ValueKind != JsonValueKind.Object)
        {
            return DataNotObject;
        }

        return null;
    }

    private static bool HasData(JsonElement? data) =>
        data is { ValueKind: not (JsonValueKind.Undefined or JsonValueKind.Null) };

    private static bool HasNul(string? value) => value is not null && value.Contains('\0', StringComparison.Ordinal);

    /// <summary>
    /// Whether jsonb can hold every string (names and values) of the data, and it nests at most 64 levels: one pass
    /// of a reader over the data's raw UTF-8, without allocating. Only an escaped string can hold a NUL (<c>\u0000</c>)
    /// or an unpaired surrogate (<c>\ud800</c>): raw control characters and invalid UTF-8 are not JSON, so those never
    /// get here. Only escaped strings are unescaped.
    /// </summary>
    private static string? DataProblem(JsonElement element)
    {
        var reader = new Utf8JsonReader(JsonMarshal.GetRawUtf8Value(element), new JsonReaderOptions { MaxDepth = MaxDataDepth + 2 });
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray when reader.CurrentDepth >= MaxDataDepth:
                        return DataTooDeep;
                    case JsonTokenType.String or JsonTokenType.PropertyName when reader.ValueIsEscaped:
                        if (reader.GetString()!.Contains('\0', StringComparison.Ordinal))
                        {
                            return ContainsNul;
                        }

                        break;
                }
            }

            return null;
        }
        catch (InvalidOperationException)
        {
            // GetString refuses an escaped unpaired surrogate ("\ud800"); so would jsonb.
            return InvalidUnicode;
        }
    }

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
