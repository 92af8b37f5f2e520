namespace RunSaga.Contracts;

/// <summary>
/// A run's deadline has passed: <see cref="Deadline"/> is <c>flush</c> (FLUSH_TIMEOUT after the flush was
/// requested, or after an unknown run was first heard of) or <c>run</c> (RUN_TIMEOUT after the run was
/// created without reaching <c>Flushed</c>) or <c>resend</c> (the command the run waits on has had no
/// answer for RESEND_AFTER; the saga sends it again). Published by the Orchestrator's deadline watcher, which reads
/// the deadlines from <c>runsaga.runs</c>, so timeouts survive restarts; consumed by the run saga. May be
/// published more than once; a deadline that no longer applies is ignored.
/// </summary>
public sealed record RunDeadlinePassed
{
    public Guid RunId { get; init; }
    public string Deadline { get; init; } = null!;

    /// <summary>
    /// Set when the watcher saw the pipeline behind within STAGING_SETTLE: batches waiting in
    /// <c>runsaga.staging</c>, no Consumers on it, or RabbitMQ or PostgreSQL unreachable; or when messages of this run
    /// itself (its <c>FlushRun</c>) have waited undelivered in the outbox. The batches a flush waits for, or the flush's
    /// answer, may then still be on their way, so the saga postpones a flush verdict instead of failing the run.
    /// </summary>
    public string? HoldReason { get; init; }
}
