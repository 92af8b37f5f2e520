namespace RunSaga.Shared.Data;

/// <summary>
/// What kind of run this is. A full run (<see cref="Ingestion"/>, <see cref="ManualReindex"/>) is a complete
/// snapshot of its source; a partial run (<see cref="Sync"/>) only updates what it carries.
/// </summary>
public static class ProcessType
{
    public const string Ingestion = "ingestion";
    public const string Sync = "sync";
    public const string ManualReindex = "manual_reindex";

    public static readonly IReadOnlyList<string> All = [Ingestion, Sync, ManualReindex];

    public static bool IsKnown(string value) => value is Ingestion or Sync or ManualReindex;

    public static bool IsFull(string value) => value is Ingestion or ManualReindex;

    /// <summary>The process type a message names, or <see cref="Ingestion"/> when it names none.</summary>
    public static string OrDefault(string? value) => string.IsNullOrEmpty(value) ? Ingestion : value;
}
