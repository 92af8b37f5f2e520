namespace RunSaga.Consumers.Staging;

/// <summary>
/// Staging a batch: claim the batch, then upsert all its valid items in one statement. Runs in one READ
/// COMMITTED transaction with the flush check.
/// </summary>
public static class StagingSql
{
    /// <summary>
    /// The claim: one row per (run, batch). No row inserted → the batch was staged before (a redelivery or a
    /// republish) and nothing of it is staged again. <c>staged_count</c> is filled in by <see cref="UpsertItems"/>.
    /// A run whose artifacts retention archived or deleted takes no batches either: its staging stays what the
    /// archive holds (staging holds <c>AdvisoryLocks.ShareRunArtifacts</c>, archival the exclusive lock, so the
    /// two never cross).
    /// </summary>
    public const string ClaimBatch = """
        INSERT INTO runsaga.staged_batches
            (run_id, batch_id, item_count, staged_count, duplicate_count, rejected_count, rejections, staged_at)
        SELECT @run, @batch, @item_count, 0, @duplicates, @rejected_count, @rejections::jsonb, now()
        WHERE NOT EXISTS (
            SELECT 1 FROM runsaga.runs r WHERE r.id = @run AND (r.archived_at IS NOT NULL OR r.deleted_at IS NOT NULL))
        ON CONFLICT (run_id, batch_id) DO NOTHING
        """;

    /// <summary>
    /// All valid items of the batch in one statement (parallel text[] parameters, sorted by key). A key an
    /// earlier batch of the run staged is replaced by this one (the later copy wins) and counted as a duplicate;
    /// <c>xmax = 0</c> tells a new row from a replaced one. The data goes in as text and is cast to jsonb, so the
    /// content hash (title, url, data; not the error) does not depend on key order or whitespace.
    /// </summary>
    public const string UpsertItems = """
        WITH upserted AS (
            INSERT INTO runsaga.staged_items AS s (run_id, key, batch_id, title, url, data, error, content_hash, staged_at)
            SELECT @run, u.key, @batch, u.title, u.url, u.data::jsonb, u.error,
                   md5(coalesce(u.title, '') || chr(31) || coalesce(u.url, '') || chr(31) || coalesce(u.data::jsonb::text, '')),
                   now()
            FROM unnest(@keys, @titles, @urls, @data, @errors) AS u(key, title, url, data, error)
            ON CONFLICT (run_id, key) DO UPDATE SET
                batch_id = excluded.batch_id,
                title = excluded.title,
                url = excluded.url,
                data = excluded.data,
                error = excluded.error,
                content_hash = excluded.content_hash,
                staged_at = excluded.staged_at
            RETURNING (s.xmax = 0) AS is_new
        )
        UPDATE runsaga.staged_batches b
        SET staged_count = (SELECT count(*) FROM upserted WHERE is_new),
            duplicate_count = b.duplicate_count + (SELECT count(*) FROM upserted WHERE NOT is_new)
        WHERE b.run_id = @run AND b.batch_id = @batch
        RETURNING b.staged_count, b.duplicate_count
        """;

    /// <summary>The run's source, for the log lines (null while no RunRequested/RunStarted named the run).</summary>
    public const string SourceOfRun = "SELECT source FROM runsaga.runs WHERE id = @run";
}
