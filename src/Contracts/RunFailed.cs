namespace RunSaga.Contracts;

/// <summary>
/// The run failed; <c>projects</c> is exactly as it was before the run. Published once by the run saga;
/// anyone may subscribe. <see cref="Source"/> is empty when the run was never identified.
/// </summary>
public sealed record RunFailed
{
    public Guid RunId { get; init; }
    public string Source { get; init; } = null!;
    public string ErrorCode { get; init; } = null!;
    public string ErrorMessage { get; init; } = null!;
}
