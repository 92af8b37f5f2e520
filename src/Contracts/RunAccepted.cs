namespace RunSaga.Contracts;

/// <summary>
/// RunSaga has a run for a <see cref="RunRequested"/>. Published by the run saga; anyone may subscribe.
/// <see cref="DuplicateOf"/> names the existing run when the request repeated a held idempotency key (no second run
/// was created: this run id ends <c>Cancelled</c> with <c>DUPLICATE_RUN</c>, and its batches are refused).
/// </summary>
public sealed record RunAccepted
{
    public Guid RunId { get; init; }
    public string Source { get; init; } = null!;
    public string? IdempotencyKey { get; init; }
    public Guid? DuplicateOf { get; init; }
    /// <summary>1 for a key's first run; one more than <see cref="RetryOf"/>'s for a retry.</summary>
    public int Attempt { get; init; } = 1;
    /// <summary>The key's newest failed or cancelled run, when this run is a new attempt at the key.</summary>
    public Guid? RetryOf { get; init; }
}
