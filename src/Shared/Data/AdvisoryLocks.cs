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
    /// A SQL condition: some transaction holds <see cref="ShareRunArtifacts"/> for the run <paramref name="run"/> (a uuid
    /// expression), so a batch of that run is being staged right now. <c>pg_locks</c> shows a bigint advisory key as its
    /// high and low 32 bits (<c>classid</c>, <c>objid</c>, with <c>objsubid</c> 1).
    /// </summary>
    public static string RunBeingStaged(string run) => $"""
        EXISTS (SELECT 1 FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.mode = 'ShareLock' AND l.granted AND l.objsubid = 1
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended({run}::text, 7004))
        """;

    /// <summary>
    /// How long, in seconds, the oldest staging transaction open right now has run (every one holds a
    /// <see cref="ShareRunArtifacts"/> lock, the only shared advisory lock RunSaga takes); 0 when none is open.
    /// <c>pg_stat_activity</c> shows another backend's <c>xact_start</c> only to its own role (or <c>pg_read_all_stats</c>):
    /// hosts logging in as different roles see 0 here.
    /// </summary>
    public const string OldestStagingTransactionSeconds = """
        SELECT coalesce(extract(epoch FROM max(clock_timestamp() - a.xact_start)), 0)::float8
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.mode = 'ShareLock' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """;

    /// <summary>
    /// Per archive file (<c>@path</c>, relative): taken by archival before it chooses a file name, so two runs
    /// with the same folder name never write the same file.
    /// </summary>
    public const string LockArchivePath = "SELECT pg_advisory_xact_lock(hashtextextended(@path, 7003))";
}
