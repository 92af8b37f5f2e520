namespace RunSaga.Contracts;

/// <summary>
/// A whole batch was refused (for example <c>BATCH_TOO_LARGE</c>), so the run cannot be complete. Published
/// by the staging consumer; consumed by the run saga, which fails the run. Idempotent by
/// <c>(RunId, BatchId)</c>.
/// </summary>
public sealed record BatchRejected
{
    public Guid RunId { get; init; }
    public string BatchId { get; init; } = null!;
    public string ErrorCode { get; init; } = null!;
    public string ErrorMessage { get; init; } = null!;
}
