namespace RunSaga.Consumers.Lineage;

/// <summary>A run's lineage summary (seed 004), computed from what its promotion recorded.</summary>
public static class LineageSql
{
    /// <summary>
    /// One row per run, written once: the changes in <c>project_lineage</c> counted per kind (created →
    /// discovered), <c>unchanged</c> from <c>run_promotions</c>, and the run's batch ids sorted (byte order).
    /// Inserts nothing when the run was never promoted, or when it is stamped already.
    /// </summary>
    public const string Stamp = """
        INSERT INTO runsaga.run_lineage
            (run_id, source, process_type, discovered, updated, deleted, errored, unchanged, batch_ids, stamped_at)
        SELECT @run, coalesce(nullif(@source, ''), rp.source), @process_type,
               l.discovered, l.updated, l.deleted, l.errored, rp.unchanged,
               coalesce((SELECT array_agg(b.batch_id COLLATE "C" ORDER BY b.batch_id COLLATE "C")
                         FROM runsaga.staged_batches b
                         WHERE b.run_id = @run), '{}'),
               now()
        FROM runsaga.run_promotions rp
        CROSS JOIN (
            SELECT count(*) FILTER (WHERE change = 'created')::int AS discovered,
                   count(*) FILTER (WHERE change = 'updated')::int AS updated,
                   count(*) FILTER (WHERE change = 'deleted')::int AS deleted,
                   count(*) FILTER (WHERE change = 'errored')::int AS errored
            FROM runsaga.project_lineage
            WHERE run_id = @run
        ) l
        WHERE rp.run_id = @run
        ON CONFLICT (run_id) DO NOTHING
        RETURNING discovered, updated, deleted, errored, unchanged, batch_ids
        """;

    /// <summary>The summary as stamped before (the idempotent path).</summary>
    public const string Stamped = """
        SELECT discovered, updated, deleted, errored, unchanged, batch_ids
        FROM runsaga.run_lineage
        WHERE run_id = @run
        """;
}
