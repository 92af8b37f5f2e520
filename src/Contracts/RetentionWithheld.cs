namespace RunSaga.Contracts;

/// <summary>
/// Retention for a source is withheld: a completed full run staged suspiciously few items compared with the
/// previous one. Published by the retention consumer; nothing is pruned for the source until an operator
/// sends <see cref="ReleaseRetention"/>.
/// </summary>
public sealed record RetentionWithheld
{
    public string Source { get; init; } = null!;
    public Guid RunId { get; init; }
    public string Reason { get; init; } = null!;
}
