using System.Globalization;
using System.Text;

namespace RunSaga.Bench;

/// <summary>One scraped item as the benchmark publishes it; <see cref="Data"/> is a JSON object as text.</summary>
public readonly record struct BenchItem(string Key, string Title, string Url, string Data);

/// <summary>
/// The benchmark's data set, deterministic from the seed: the same seed gives the same items, byte for byte, on
/// every machine and in every order they are asked for (each item is derived from (seed, index, version) alone,
/// so nothing is held in memory). Items carry about 150–200 bytes of JSON <c>data</c>, a title and a url.
/// <para>
/// The second run is the common re-scrape: about 10 % of the items changed, 1 % removed, 1 % added.
/// </para>
/// </summary>
public sealed class DataSet(int items, int seed)
{
    private static readonly string[] Categories = ["garden", "kitchen", "tools", "toys", "books", "audio", "office", "sports"];
    private static readonly string[] Words = ["steel", "oak", "compact", "deluxe", "classic", "eco", "pro", "mini", "smart", "solid", "travel", "family"];
    private static readonly string[] Colors = ["black", "white", "blue", "red", "green", "grey"];

    public int Items { get; } = items;

    /// <summary>How many items the second run adds (1 %).</summary>
    public int Added => Math.Max(1, Items / 100);

    /// <summary>What the second run does to the item at <paramref name="index"/> of the first.</summary>
    public SecondRunChange ChangeOf(int index) => (Mix(seed, index, 7) % 1000) switch
    {
        < 100 => SecondRunChange.Changed,
        < 110 => SecondRunChange.Removed,
        _ => SecondRunChange.Same,
    };

    /// <summary>The first run: items 0 … N-1.</summary>
    public IEnumerable<BenchItem> FirstRun()
    {
        for (var i = 0; i < Items; i++)
        {
            yield return Item(i, version: 0);
        }
    }

    /// <summary>The second run: the first run's items with 10 % changed and 1 % removed, then 1 % new ones.</summary>
    public IEnumerable<BenchItem> SecondRun()
    {
        for (var i = 0; i < Items; i++)
        {
            switch (ChangeOf(i))
            {
                case SecondRunChange.Same:
                    yield return Item(i, version: 0);
                    break;
                case SecondRunChange.Changed:
                    yield return Item(i, version: 1);
                    break;
            }
        }

        for (var i = Items; i < Items + Added; i++)
        {
            yield return Item(i, version: 0);
        }
    }

    /// <summary>What the second run should count: (inserted, updated, unchanged, items published).</summary>
    public (int Inserted, int Updated, int Unchanged, int Published) SecondRunExpectation()
    {
        int changed = 0, removed = 0;
        for (var i = 0; i < Items; i++)
        {
            switch (ChangeOf(i))
            {
                case SecondRunChange.Changed: changed++; break;
                case SecondRunChange.Removed: removed++; break;
            }
        }

        return (Added, changed, Items - changed - removed, Items - removed + Added);
    }

    public static IEnumerable<IReadOnlyList<BenchItem>> Batches(IEnumerable<BenchItem> items, int size)
    {
        var batch = new List<BenchItem>(size);
        foreach (var item in items)
        {
            batch.Add(item);
            if (batch.Count == size)
            {
                yield return batch;
                batch = new List<BenchItem>(size);
            }
        }

        if (batch.Count > 0)
        {
            yield return batch;
        }
    }

    public BenchItem Item(int index, int version)
    {
        var r = new Rng(Mix(seed, index, version));
        var key = $"item-{index:D8}";
        var title = $"{Words[r.Next(Words.Length)]} {Words[r.Next(Words.Length)]} {Categories[r.Next(Categories.Length)]} item {index}";
        var url = $"https://shop.example.test/p/{index:D8}/{Words[r.Next(Words.Length)]}";

        var data = new StringBuilder(200);
        data.Append(CultureInfo.InvariantCulture, $"{{\"sku\":\"SKU-{index:D8}\"");
        data.Append(CultureInfo.InvariantCulture, $",\"price\":{r.Next(100, 100000) / 100.0:0.00}");
        data.Append(",\"currency\":\"EUR\"");
        data.Append(CultureInfo.InvariantCulture, $",\"stock\":{r.Next(0, 500)}");
        data.Append(CultureInfo.InvariantCulture, $",\"rating\":{r.Next(10, 50) / 10.0:0.0}");
        data.Append(CultureInfo.InvariantCulture, $",\"category\":\"{Categories[r.Next(Categories.Length)]}\"");
        data.Append(CultureInfo.InvariantCulture, $",\"tags\":[\"{Colors[r.Next(Colors.Length)]}\",\"{Words[r.Next(Words.Length)]}\"]");
        data.Append(CultureInfo.InvariantCulture, $",\"seller\":\"seller-{r.Next(1000):D4}\"");
        data.Append(CultureInfo.InvariantCulture, $",\"shipping\":{{\"days\":{r.Next(1, 10)},\"free\":{(r.Next(2) == 0 ? "true" : "false")}}}}}");
        return new BenchItem(key, title, url, data.ToString());
    }

    private static ulong Mix(int seed, int index, int version) =>
        SplitMix((ulong)(uint)seed << 32 ^ (ulong)(uint)index ^ (ulong)version << 61);

    private static ulong SplitMix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>A tiny deterministic generator (SplitMix64): System.Random's sequence is not promised across versions.</summary>
    private struct Rng(ulong state)
    {
        private ulong state = state;

        public int Next(int max) => (int)(NextULong() % (ulong)max);

        public int Next(int min, int max) => min + Next(max - min);

        private ulong NextULong()
        {
            state += 0x9E3779B97F4A7C15UL;
            return SplitMix(state);
        }
    }
}

public enum SecondRunChange
{
    Same,
    Changed,
    Removed,
}
