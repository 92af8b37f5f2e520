using Npgsql;

namespace RunSaga.Consumers.Retention;

/// <summary>What happened to one run's artifacts.</summary>
public enum ArtifactOutcome
{
    /// <summary>Written to a verified archive file; staging emptied.</summary>
    Archived,
    /// <summary>Staging (and with DELETION_STRATEGY=hard the run's row) deleted, audited; a soft deletion's file went to the trash.</summary>
    Deleted,
    /// <summary>The archive unpacked back into staging, read-only.</summary>
    Restored,
    /// <summary>A soft-deleted run back, its archive out of the trash.</summary>
    Undeleted,
    /// <summary>Left as it was; <see cref="ArtifactResult.Detail"/> says why.</summary>
    Skipped,
}

/// <summary>How a retention cycle ended; stored lower-case in <c>retention_cycles.outcome</c> (see <see cref="CycleOutcomes.DbName"/>).</summary>
public enum CycleOutcome
{
    Succeeded,
    /// <summary>Nothing to prune yet (fewer than KEEP_RUNS full runs, the newest run open or failed, no source).</summary>
    Skipped,
    /// <summary>A suspiciously small run withholds pruning until an operator releases the source.</summary>
    Withheld,
    /// <summary>An error stopped the cycle; it deleted nothing.</summary>
    Failed,
}

public static class CycleOutcomes
{
    /// <summary>The outcome as <c>retention_cycles.outcome</c>, the API and <c>RetentionApplied.outcome</c> spell it.</summary>
    public static string DbName(this CycleOutcome outcome) => outcome switch
    {
        CycleOutcome.Succeeded => "succeeded",
        CycleOutcome.Skipped => "skipped",
        CycleOutcome.Withheld => "withheld",
        CycleOutcome.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, null),
    };
}

/// <summary>What happened to one run's artifacts, with why when it was <see cref="ArtifactOutcome.Skipped"/>.</summary>
/// <param name="Detail">Why it was skipped; for a deletion the strategy, <c>soft</c> or <c>hard</c>.</param>
/// <param name="Leftovers">After a deletion: the folder where the run's archive and any partial files of it were.</param>
public sealed record ArtifactResult(
    Guid RunId, string? Source, ArtifactOutcome Outcome, string? Detail = null, string? ArchivePath = null, int Items = 0, int Batches = 0,
    string? Leftovers = null);

/// <summary>An operator's command that cannot be carried out as asked (unknown run, open run, pinned run…); nothing changed.</summary>
public sealed class RetentionRefusedException(string message) : Exception(message);

/// <summary>The two artifact phases of a retention cycle, as <see cref="SourcePruner.RunCycleAsync"/> runs them.</summary>
/// <param name="ArchiveAsync">Before the cycle's transaction: archives due runs, one transaction each.</param>
/// <param name="DeleteAsync">Inside the cycle's transaction: deletes due runs; returns what to do once it committed or rolled back.</param>
public sealed record ArtifactPhases(
    Func<ArtifactProgress, CancellationToken, Task> ArchiveAsync,
    Func<NpgsqlConnection, NpgsqlTransaction, ArtifactProgress, CancellationToken, Task<ArtifactDeletion>> DeleteAsync);

/// <summary>The file work of a cycle's deletions: after its transaction committed, or after it rolled back.</summary>
public sealed record ArtifactDeletion(Action Committed, Action RolledBack);
