namespace RunSaga.Orchestrator.Runs;

/// <summary>Who holds an idempotency key, and the key's newest attempt that ended unfinished.</summary>
/// <param name="Holder">The run (other than the asking one) that holds the key: not Failed, not Cancelled.</param>
/// <param name="LastAttempt">The key's newest Failed or Cancelled run created before the asking one, with its attempt number.</param>
public sealed record KeyStanding(KeyHolder? Holder, (Guid RunId, int Attempt)? LastAttempt);

public sealed record KeyHolder(Guid RunId, string? Source, string Status);

/// <summary>
/// What the run saga reads of other runs, inside the transaction that applies the message (the saga's own row is
/// locked): who holds an idempotency key, and whether a run's promotion has committed.
/// </summary>
public interface IRunLedger
{
    Task<KeyStanding> KeyStandingAsync(string idempotencyKey, Guid runId, DateTime createdAt, CancellationToken cancellationToken);

    /// <summary>
    /// Waits for any promotion of <paramref name="source"/> in progress (the promotion's source lock, held until this
    /// transaction ends, so a promotion that starts later sees what this transaction commits) and says whether
    /// <paramref name="runId"/>'s promotion has committed.
    /// </summary>
    Task<bool> HoldPromotionsAndCheckAsync(Guid runId, string source, CancellationToken cancellationToken);
}
