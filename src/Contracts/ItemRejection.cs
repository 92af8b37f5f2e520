namespace RunSaga.Contracts;

/// <summary>Why one item of a batch was not staged (part of <see cref="FlushConfirmed"/>).</summary>
public sealed record ItemRejection
{
    public string BatchId { get; init; } = null!;
    public string? Key { get; init; }
    public string Reason { get; init; } = null!;
}
