namespace RunSaga.Shared.Data;

/// <summary>
/// The transaction-scoped advisory locks RunSaga takes in PostgreSQL (released at commit or rollback). Each
/// family hashes with its own seed, so a run id and a source name never share a lock by accident.
/// </summary>
public static class AdvisoryLocks
{
    /// <summary>
    /// Per run (<c>@run</c>, uuid): taken by everything that decides a flush verdict or adds to what it counts
    /// (staging a batch, recording a flush request), so a batch staged while the flush is requested is never
    /// missed: whichever transaction takes the lock second sees the other's committed rows.
    /// </summary>
    public const string LockRun = "SELECT pg_advisory_xact_lock(hashtextextended(@run::text, 7001))";

    /// <summary>
    /// Per source (<c>@source</c>, text): taken by everything that writes a source's <c>projects</c> rows
    /// (promotion; retention should too), so two such writers of one source never interleave.
    /// </summary>
    public const string LockSource = "SELECT pg_advisory_xact_lock(hashtextextended(@source, 7002))";

    /// <summary>
    /// Per run (<c>@run</c>, uuid), shared: taken first by every transaction that stages a batch, so the check that
    /// the run is not archived and the rows it writes belong to one side of an archival, never both.
    /// </summary>
    public const string ShareRunArtifacts = "SELECT pg_advisory_xact_lock_shared(hashtextextended(@run::text, 7004))";

    /// <summary>
    /// Per run, exclusive: taken by whatever archives, deletes or restores the run's staging rows. It waits for the
    /// batches being staged into the run and holds new ones back until it commits.
    /// </summary>
    public const string LockRunArtifacts = "SELECT pg_advisory_xact_lock(hashtextextended(@run::text, 7004))";

    /// <summary>
    /// Per archive file (<c>@path</c>, relative): taken by archival before it chooses a file name, so two runs
    /// with the same folder name never write the same file.
    /// </summary>
    public const string LockArchivePath = "SELECT pg_advisory_xact_lock(hashtextextended(@path, 7003))";
}
