namespace RunSaga.Contracts;

/// <summary>
/// A retention cycle for a source finished (or, with <see cref="DryRun"/>, reports what it would do).
/// Published by the retention consumer; anyone may subscribe. <see cref="RunId"/> names the run that applied
/// it (the newest completed full run of the source), if any.
/// </summary>
public sealed record RetentionApplied
{
    /// <summary>Null for the runs no event ever named a source (their artifacts age like any other).</summary>
    public string? Source { get; init; }
    public Guid? RunId { get; init; }
    public int ProjectsDeleted { get; init; }
    public int RunsArchived { get; init; }
    public int RunsDeleted { get; init; }
    public bool DryRun { get; init; }
    /// <summary>Why nothing was done, when nothing was (e.g. fewer than KEEP_RUNS completed full runs).</summary>
    public string? SkippedBecause { get; init; }
    /// <summary><c>succeeded</c>, <c>skipped</c> or <c>withheld</c> (then a <see cref="RetentionWithheld"/> says why), as in <c>retention_cycles.outcome</c>.</summary>
    public string Outcome { get; init; } = "succeeded";
}
