namespace RunSaga.Consumers.Flush;

/// <summary>The flush check's SQL. Every statement runs after <c>AdvisoryLocks.LockRun</c> in its transaction.</summary>
public static class FlushSql
{
    /// <summary>How many rejections a <c>FlushConfirmed</c> carries at most.</summary>
    public const int MaxReportedRejections = 100;

    /// <summary>The first request for a run wins; a repeat changes nothing.</summary>
    public const string RecordRequest = """
        INSERT INTO runsaga.flush_requests (run_id, expected_items, expected_batches, requested_at)
        VALUES (@run, @expected_items, @expected_batches, now())
        ON CONFLICT (run_id) DO NOTHING
        """;

    /// <summary>
    /// The stored request and what is staged against it. No request row → no row, and the aggregate over the
    /// run's batches is never computed, so staging before the scrape completes stays cheap.
    /// </summary>
    public const string Status = """
        SELECT f.expected_items, f.expected_batches, a.batches, a.items, a.distinct_keys, a.rejected, a.duplicates
        FROM runsaga.flush_requests f
        CROSS JOIN LATERAL (
            SELECT count(*) AS batches,
                   coalesce(sum(b.item_count), 0)::bigint AS items,
                   coalesce(sum(b.staged_count), 0)::bigint AS distinct_keys,
                   coalesce(sum(b.rejected_count), 0)::bigint AS rejected,
                   coalesce(sum(b.duplicate_count), 0)::bigint AS duplicates
            FROM runsaga.staged_batches b
            WHERE b.run_id = f.run_id
        ) a
        WHERE f.run_id = @run
        """;

    /// <summary>For a confirmed flush: the run's batch ids (byte order), then its first rejections in batch order.</summary>
    public const string Details = """
        SELECT coalesce(array_agg(b.batch_id COLLATE "C" ORDER BY b.batch_id COLLATE "C"), '{}')
        FROM runsaga.staged_batches b
        WHERE b.run_id = @run;

        SELECT b.batch_id, e.value ->> 'key', e.value ->> 'reason'
        FROM runsaga.staged_batches b
        CROSS JOIN LATERAL jsonb_array_elements(b.rejections) WITH ORDINALITY AS e(value, ordinal)
        WHERE b.run_id = @run AND b.rejected_count > 0
        ORDER BY b.batch_id COLLATE "C", e.ordinal
        LIMIT @limit
        """;
}
