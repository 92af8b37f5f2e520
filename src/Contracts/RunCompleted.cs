namespace RunSaga.Contracts;

/// <summary>
/// The run finished and its items are promoted. Published once by the run saga; anyone may subscribe
/// (retention is triggered by it).
/// </summary>
public sealed record RunCompleted
{
    public Guid RunId { get; init; }
    public string Source { get; init; } = null!;
    public int Inserted { get; init; }
    public int Updated { get; init; }
    public int Unchanged { get; init; }
    public int Errored { get; init; }
}
