namespace RunSaga.Consumers.Staging;

/// <summary>
/// Staging a batch: claim the batch, then COPY (or upsert) all its valid items. Runs in one READ COMMITTED transaction
/// with the flush check.
/// </summary>
public static class StagingSql
{
    /// <summary>
    /// The claim: one row per (run, batch). No row inserted → the batch was staged before (a redelivery or a
    /// republish) and nothing of it is staged again. <c>staged_count</c> is filled in by <see cref="CountCopied"/> or <see cref="UpsertItems"/>.
    /// A run whose artifacts retention archived or deleted takes no batches either: its staging stays what the
    /// archive holds (staging holds <c>AdvisoryLocks.ShareRunArtifacts</c>, archival the exclusive lock, so the
    /// two never cross). Nor does a run past its flush (Flushed, Completed, Failed or Cancelled): its flush verdict
    /// counted the batches it announced, and a batch arriving later (a late or forged one) must not reach its promotion,
    /// its staging or its archive. A redelivered batch of the run was claimed before and is ignored either way.
    /// </summary>
    public const string ClaimBatch = """
        INSERT INTO runsaga.staged_batches
            (run_id, batch_id, item_count, staged_count, duplicate_count, rejected_count, rejections, staged_at)
        SELECT @run, @batch, @item_count, 0, @duplicates, @rejected_count, @rejections::jsonb, now()
        WHERE NOT EXISTS (
            SELECT 1 FROM runsaga.runs r
            WHERE r.id = @run
              AND (r.archived_at IS NOT NULL OR r.deleted_at IS NOT NULL OR r.status IN ('Flushed', 'Completed', 'Failed', 'Cancelled')))
        ON CONFLICT (run_id, batch_id) DO NOTHING
        """;

    /// <summary>Whether the batch was claimed before (after <see cref="ClaimBatch"/> inserted nothing: a redelivery, not a late batch).</summary>
    public const string BatchClaimed = """
        SELECT EXISTS (SELECT 1 FROM runsaga.staged_batches WHERE run_id = @run AND batch_id = @batch)
        """;

    /// <summary>
    /// The common case, a batch whose keys no earlier batch of the run staged: its valid items streamed in PostgreSQL's
    /// binary COPY format straight into <c>staged_items</c>, sorted by key, <c>data</c> as the bytes the scraper sent.
    /// <c>content_hash</c> is a generated column, computed as each row is written. Run inside a savepoint: a key staged
    /// before raises a unique violation, and the stager rolls back to the savepoint and runs <see cref="UpsertItems"/>
    /// instead.
    /// </summary>
    public const string CopyItems = """
        COPY runsaga.staged_items (run_id, key, batch_id, title, url, data, error, staged_at) FROM STDIN (FORMAT BINARY)
        """;

    /// <summary>After <see cref="CopyItems"/>: every row it wrote is a new key of the run.</summary>
    public const string CountCopied = """
        UPDATE runsaga.staged_batches b
        SET staged_count = @staged
        WHERE b.run_id = @run AND b.batch_id = @batch
        RETURNING b.staged_count, b.duplicate_count
        """;

    /// <summary>
    /// All valid items of the batch in one statement, when some key was staged before: parallel text[] parameters
    /// (sorted by key), each data cast to jsonb. A key an earlier batch of the run staged is replaced by this one (the
    /// later copy wins) and counted as a duplicate; <c>xmax = 0</c> tells a new row from a replaced one.
    /// </summary>
    public const string UpsertItems = """
        WITH upserted AS (
            INSERT INTO runsaga.staged_items AS s (run_id, key, batch_id, title, url, data, error, staged_at)
            SELECT @run, u.key, @batch, u.title, u.url, u.data::jsonb, u.error, now()
            FROM unnest(@keys, @titles, @urls, @data, @errors) AS u(key, title, url, data, error)
            ON CONFLICT (run_id, key) DO UPDATE SET
                batch_id = excluded.batch_id,
                title = excluded.title,
                url = excluded.url,
                data = excluded.data,
                error = excluded.error,
                staged_at = excluded.staged_at
            RETURNING (s.xmax = 0) AS is_new
        )
        UPDATE runsaga.staged_batches b
        SET staged_count = (SELECT count(*) FROM upserted WHERE is_new),
            duplicate_count = b.duplicate_count + (SELECT count(*) FROM upserted WHERE NOT is_new)
        WHERE b.run_id = @run AND b.batch_id = @batch
        RETURNING b.staged_count, b.duplicate_count
        """;

    /// <summary>The transaction's timestamp, which every row of the batch is stamped with (<c>staged_at</c>).</summary>
    public const string Now = "SELECT now()";

    /// <summary>The run's source, for the log lines (null while no RunRequested/RunStarted named the run).</summary>
    public const string SourceOfRun = "SELECT source FROM runsaga.runs WHERE id = @run";
}
