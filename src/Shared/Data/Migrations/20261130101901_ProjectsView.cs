using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RunSaga.Shared.Data.Migrations
{
    /// <summary>
    /// <c>runsaga.projects</c> is again what the seeds promise readers: every item with <c>last_confirmed_run_id</c> and
    /// <c>last_seen_at</c> holding the effective values. The table becomes <c>project_rows</c> (the storage, written by
    /// promotion and retention) and <c>projects</c> a view over it (see <c>ProjectState</c>); <c>project_state</c>, the
    /// name readers were told to use meanwhile, stays as the same view. A row's <c>confirmed_at</c> becomes its confirming
    /// run's <c>promoted_at</c>, so the view compares times without a lookup per row. SQL frozen here, as a migration must be.
    /// </summary>
    public partial class ProjectsView : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP VIEW runsaga.project_state");

            migrationBuilder.RenameTable(
                name: "projects",
                schema: "runsaga",
                newName: "project_rows",
                newSchema: "runsaga");

            // Rows written before this migration carry the transaction's start, a moment before their run's promoted_at.
            // This rewrites nearly every row once, in the migration's transaction (about half a minute per million rows
            // here); run it when no promotion is due.
            migrationBuilder.Sql("""
                UPDATE runsaga.project_rows p SET confirmed_at = e.promoted_at
                FROM runsaga.run_promotions e
                WHERE e.run_id = p.confirmed_run_id AND p.confirmed_at <> e.promoted_at
                """);

            migrationBuilder.Sql("""
                CREATE VIEW runsaga.projects AS
                SELECT p.source, p.key, p.title, p.url, p.data, p.content_hash, p.status, p.error,
                       p.created_by_run_id, p.last_updated_by_run_id,
                       CASE WHEN p.follows_full_runs AND f.promoted_at > p.confirmed_at THEN f.run_id
                            ELSE p.confirmed_run_id END AS last_confirmed_run_id,
                       p.batch_id, p.first_seen_at,
                       CASE WHEN p.follows_full_runs AND f.promoted_at > p.confirmed_at THEN f.promoted_at
                            ELSE p.confirmed_at END AS last_seen_at,
                       p.updated_at
                FROM runsaga.project_rows p
                LEFT JOIN (
                    SELECT DISTINCT ON (rp.source) rp.source, rp.run_id, rp.promoted_at
                    FROM runsaga.run_promotions rp
                    WHERE rp.full_run
                    ORDER BY rp.source, rp.promoted_at DESC
                ) f ON f.source = p.source
                """);

            migrationBuilder.Sql("CREATE VIEW runsaga.project_state AS SELECT * FROM runsaga.projects");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP VIEW runsaga.project_state");
            migrationBuilder.Sql("DROP VIEW runsaga.projects");

            migrationBuilder.RenameTable(
                name: "project_rows",
                schema: "runsaga",
                newName: "projects",
                newSchema: "runsaga");

            migrationBuilder.Sql("""
                CREATE VIEW runsaga.project_state AS
                SELECT p.source, p.key, p.title, p.url, p.data, p.content_hash, p.status, p.error,
                       p.created_by_run_id, p.last_updated_by_run_id,
                       CASE WHEN i.by_full_run THEN f.run_id ELSE p.confirmed_run_id END AS last_confirmed_run_id,
                       p.batch_id, p.first_seen_at,
                       CASE WHEN i.by_full_run THEN f.promoted_at ELSE p.confirmed_at END AS last_seen_at,
                       p.updated_at
                FROM runsaga.projects p
                LEFT JOIN runsaga.run_promotions e ON e.run_id = p.confirmed_run_id
                LEFT JOIN LATERAL (
                    SELECT rp.run_id, rp.promoted_at
                    FROM runsaga.run_promotions rp
                    WHERE rp.source = p.source AND rp.full_run
                    ORDER BY rp.promoted_at DESC
                    LIMIT 1
                ) f ON p.follows_full_runs
                CROSS JOIN LATERAL (
                    SELECT f.run_id IS NOT NULL AND f.promoted_at > coalesce(e.promoted_at, '-infinity') AS by_full_run
                ) i
                """);
        }
    }
}
