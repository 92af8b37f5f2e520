namespace RunSaga.Contracts;

/// <summary>
/// The run's staged output cannot be confirmed: <c>COUNT_MISMATCH</c> (all batches staged, item counts off)
/// or <c>FLUSH_INCOMPLETE</c> (batches still missing at the flush timeout). Published by the flush check or
/// the run saga; consumed by the run saga, which fails the run.
/// </summary>
public sealed record FlushFailed
{
    public Guid RunId { get; init; }
    public string ErrorCode { get; init; } = null!;
    public string ErrorMessage { get; init; } = null!;
}
