        WITH stamp AS (
            SELECT clock_timestamp() AS at
        ),
        classified AS (
            SELECT coalesce(s.key, p.key) AS key,
                   s.key IS NOT NULL AS staged,
                   s.batch_id, s.title, s.url, s.data, s.error, s.content_hash,
                   p.key IS NOT NULL AS existed,
                   p.content_hash AS old_hash,
                   p.confirmed_at AS old_confirmed_at,
                   coalesce(p.follows_full_runs, false) AS follows,
                   CASE
                       WHEN s.key IS NULL THEN 'missing'
                       WHEN s.error IS NOT NULL THEN
                           CASE WHEN p.key IS NOT NULL AND p.status = 'error' AND p.error IS NOT DISTINCT FROM s.error
                                THEN 'unchanged' ELSE 'errored' END
                       WHEN p.key IS NULL THEN 'created'
                       WHEN p.status = 'ok' AND p.content_hash = s.content_hash THEN 'unchanged'
                       ELSE 'updated'
                   END AS change
            FROM (SELECT * FROM runsaga.staged_items WHERE run_id = :'run'::uuid) s
            FULL JOIN (
                SELECT key, content_hash, status, error, confirmed_at, follows_full_runs
                FROM runsaga.project_rows
                WHERE source = :'source'
            ) p ON p.key = s.key
        ),
        latest_full AS (
            SELECT rp.run_id, rp.promoted_at
            FROM runsaga.run_promotions rp
            WHERE rp.source = :'source' AND rp.full_run
            ORDER BY rp.promoted_at DESC
            LIMIT 1
        ),
        detached AS (
            UPDATE runsaga.project_rows p SET
                confirmed_run_id = CASE WHEN d.by_full_run THEN d.full_run_id ELSE p.confirmed_run_id END,
                confirmed_at = CASE WHEN d.by_full_run THEN d.full_promoted_at ELSE p.confirmed_at END,
                follows_full_runs = false
            FROM (
                SELECT c.key,
                       lf.run_id AS full_run_id,
                       lf.promoted_at AS full_promoted_at,
                       coalesce(lf.promoted_at > c.old_confirmed_at, false) AS by_full_run
                FROM classified c
                LEFT JOIN latest_full lf ON true
                WHERE :full AND NOT c.staged AND c.follows
            ) d
            WHERE p.source = :'source' AND p.key = d.key
            RETURNING 1
        ),
        inserted AS (
            INSERT INTO runsaga.project_rows
                (source, key, title, url, data, content_hash, status, error,
                 created_by_run_id, last_updated_by_run_id, confirmed_run_id, batch_id,
                 first_seen_at, confirmed_at, follows_full_runs, updated_at)
            SELECT :'source', c.key, c.title, c.url, c.data, c.content_hash,
                   CASE WHEN c.error IS NULL THEN 'ok' ELSE 'error' END, c.error,
                   :'run'::uuid, :'run'::uuid, :'run'::uuid, c.batch_id,
                   now(), (SELECT at FROM stamp), true, now()
            FROM classified c
            WHERE c.staged AND NOT c.existed
            ORDER BY c.key
            RETURNING 1
        ),
        updated AS (
            UPDATE runsaga.project_rows p SET
                title = CASE WHEN c.change = 'updated' THEN c.title ELSE p.title END,
                url = CASE WHEN c.change = 'updated' THEN c.url ELSE p.url END,
                data = CASE WHEN c.change = 'updated' THEN c.data ELSE p.data END,
                content_hash = CASE WHEN c.change = 'updated' THEN c.content_hash ELSE p.content_hash END,
                batch_id = CASE WHEN c.change = 'updated' THEN c.batch_id ELSE p.batch_id END,
                status = CASE c.change WHEN 'updated' THEN 'ok' WHEN 'errored' THEN 'error' ELSE p.status END,
                error = CASE c.change WHEN 'updated' THEN NULL WHEN 'errored' THEN c.error ELSE p.error END,
                last_updated_by_run_id = CASE WHEN c.change IN ('updated', 'errored') THEN :'run'::uuid ELSE p.last_updated_by_run_id END,
                updated_at = CASE WHEN c.change IN ('updated', 'errored') THEN now() ELSE p.updated_at END,
                confirmed_run_id = :'run'::uuid,
                confirmed_at = (SELECT at FROM stamp),
                follows_full_runs = true
            FROM classified c
            WHERE p.source = :'source' AND p.key = c.key AND c.staged AND c.existed
              AND (c.change <> 'unchanged' OR NOT :full OR NOT c.follows)
            RETURNING 1
        ),
        lineage AS (
            INSERT INTO runsaga.project_lineage (source, key, run_id, batch_id, change, content_hash, recorded_at)
            SELECT :'source', c.key, :'run'::uuid, c.batch_id, c.change,
                   CASE WHEN c.change = 'errored' AND c.existed THEN c.old_hash ELSE c.content_hash END,
                   now()
            FROM classified c
            WHERE c.staged AND c.change <> 'unchanged'
            ORDER BY c.key
            RETURNING 1
        ),
        counts AS (
            SELECT count(*) FILTER (WHERE change = 'created')::int AS inserted,
                   count(*) FILTER (WHERE change = 'updated')::int AS updated,
                   count(*) FILTER (WHERE change = 'unchanged' AND error IS NULL)::int AS unchanged,
                   count(*) FILTER (WHERE error IS NOT NULL)::int AS errored
            FROM classified
            WHERE staged
        ),
        recorded AS (
            INSERT INTO runsaga.run_promotions (run_id, source, inserted, updated, unchanged, errored, promoted_at, full_run)
            SELECT :'run'::uuid, :'source', inserted, updated, unchanged, errored, (SELECT at FROM stamp), :full
            FROM counts
            RETURNING 1
        )
        SELECT inserted, updated, unchanged, errored FROM counts
        