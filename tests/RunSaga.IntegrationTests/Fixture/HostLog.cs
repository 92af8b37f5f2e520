namespace RunSaga.IntegrationTests.Fixture;

/// <summary>
/// Every line the hosts write (stdout and stderr), tagged with the host, kept in memory so a failing test can
/// show what the hosts were doing. Positions are absolute, so a test can ask for "everything since I started".
/// </summary>
public sealed class HostLog
{
    private const int Capacity = 100_000;
    private readonly Lock gate = new();
    private readonly List<string> lines = [];
    private long dropped;

    /// <summary>The position of the next line.</summary>
    public long Mark()
    {
        lock (gate)
        {
            return dropped + lines.Count;
        }
    }

    public void Append(string host, string line)
    {
        lock (gate)
        {
            lines.Add($"[{host}] {line}");
            if (lines.Count > Capacity)
            {
                lines.RemoveRange(0, Capacity / 10);
                dropped += Capacity / 10;
            }
        }
    }

    /// <summary>
    /// True when a line of <paramref name="host"/> written at or after <paramref name="mark"/> contains <paramref name="text"/>.
    /// A host's name covers its instances: <c>consumers</c> matches <c>consumers.2#5</c>, <c>consumers#5</c> matches only that process.
    /// </summary>
    public bool Contains(long mark, string host, string text)
    {
        var prefix = $"[{host}";
        lock (gate)
        {
            for (var i = Index(mark); i < lines.Count; i++)
            {
                if (lines[i].StartsWith(prefix, StringComparison.Ordinal) && lines[i].Length > prefix.Length && lines[i][prefix.Length] is ']' or '#' or '.'
                    && lines[i].Contains(text, StringComparison.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>The last <paramref name="max"/> lines written at or after <paramref name="mark"/>.</summary>
    public IReadOnlyList<string> Since(long mark, int max)
    {
        lock (gate)
        {
            var from = Math.Max(Index(mark), lines.Count - max);
            return lines.GetRange(from, lines.Count - from);
        }
    }

    /// <summary>The last <paramref name="count"/> lines, and the last lines that mention <paramref name="about"/> (a run id).</summary>
    public string Tail(int count, string? about = null)
    {
        lock (gate)
        {
            var tail = lines.Skip(Math.Max(0, lines.Count - count));
            var text = "--- last host log lines ---" + Environment.NewLine + string.Join(Environment.NewLine, tail);
            if (about is null)
            {
                return text;
            }

            var mentions = lines.Where(l => l.Contains(about, StringComparison.OrdinalIgnoreCase)).TakeLast(count);
            return text + Environment.NewLine + $"--- host log lines that mention {about} ---" + Environment.NewLine
                + string.Join(Environment.NewLine, mentions);
        }
    }

    private int Index(long mark) => (int)Math.Clamp(mark - dropped, 0, lines.Count);
}
