namespace RunSaga.Contracts;

/// <summary>
/// RunSaga has a run for a <see cref="RunRequested"/>. Published by the run saga; anyone may subscribe.
/// <see cref="DuplicateOf"/> names the existing run when the request repeated a known idempotency key
/// (no second run was created).
/// </summary>
public sealed record RunAccepted
{
    public Guid RunId { get; init; }
    public string Source { get; init; } = null!;
    public string? IdempotencyKey { get; init; }
    public Guid? DuplicateOf { get; init; }
}
