using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RunSaga.Shared.Data.Migrations
{
    /// <inheritdoc />
    public partial class FullRunConfirmations : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.RenameColumn(
                name: "last_seen_at",
                schema: "runsaga",
                table: "projects",
                newName: "confirmed_at");

            migrationBuilder.RenameColumn(
                name: "last_confirmed_run_id",
                schema: "runsaga",
                table: "projects",
                newName: "confirmed_run_id");

            migrationBuilder.AddColumn<bool>(
                name: "full_run",
                schema: "runsaga",
                table: "run_promotions",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<bool>(
                name: "follows_full_runs",
                schema: "runsaga",
                table: "projects",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.CreateIndex(
                name: "IX_run_promotions_source_promoted_at",
                schema: "runsaga",
                table: "run_promotions",
                columns: new[] { "source", "promoted_at" },
                filter: "full_run");

            // Runs promoted before this migration: full unless they were sync runs.
            migrationBuilder.Sql("""
                UPDATE runsaga.run_promotions rp SET full_run = true
                FROM runsaga.runs r
                WHERE r.id = rp.run_id AND r.process_type IN ('ingestion', 'manual_reindex')
                """);

            // The effective confirmation (see ProjectState): frozen here, as a migration must be.
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

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP VIEW IF EXISTS runsaga.project_state");

            migrationBuilder.DropIndex(
                name: "IX_run_promotions_source_promoted_at",
                schema: "runsaga",
                table: "run_promotions");

            migrationBuilder.DropColumn(
                name: "full_run",
                schema: "runsaga",
                table: "run_promotions");

            migrationBuilder.DropColumn(
                name: "follows_full_runs",
                schema: "runsaga",
                table: "projects");

            migrationBuilder.RenameColumn(
                name: "confirmed_run_id",
                schema: "runsaga",
                table: "projects",
                newName: "last_confirmed_run_id");

            migrationBuilder.RenameColumn(
                name: "confirmed_at",
                schema: "runsaga",
                table: "projects",
                newName: "last_seen_at");
        }
    }
}
