using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace RunSaga.Shared.Data.Migrations
{
    /// <inheritdoc />
    public partial class RunArtifacts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "archive_path",
                schema: "runsaga",
                table: "runs",
                type: "character varying(1024)",
                maxLength: 1024,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "archive_sha256",
                schema: "runsaga",
                table: "runs",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "archived_at",
                schema: "runsaga",
                table: "runs",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "deleted_at",
                schema: "runsaga",
                table: "runs",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "deletion_reason",
                schema: "runsaga",
                table: "runs",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "pinned_until",
                schema: "runsaga",
                table: "runs",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "restored_at",
                schema: "runsaga",
                table: "runs",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "run_audit",
                schema: "runsaga",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityAlwaysColumn),
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    source = table.Column<string>(type: "text", nullable: true),
                    folder_name = table.Column<string>(type: "text", nullable: true),
                    process_type = table.Column<string>(type: "text", nullable: true),
                    status = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    finished_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    archived_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    archive_path = table.Column<string>(type: "text", nullable: true),
                    staged_items = table.Column<int>(type: "integer", nullable: true),
                    inserted = table.Column<int>(type: "integer", nullable: true),
                    updated = table.Column<int>(type: "integer", nullable: true),
                    unchanged = table.Column<int>(type: "integer", nullable: true),
                    errored = table.Column<int>(type: "integer", nullable: true),
                    error_code = table.Column<string>(type: "text", nullable: true),
                    action = table.Column<string>(type: "text", nullable: false),
                    reason = table.Column<string>(type: "text", nullable: false),
                    requested_by = table.Column<string>(type: "text", nullable: false),
                    recorded_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    run_row = table.Column<string>(type: "jsonb", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_run_audit", x => x.id);
                    table.CheckConstraint("ck_run_audit_action", "action IN ('deleted', 'hard-deleted')");
                });

            migrationBuilder.CreateIndex(
                name: "IX_runs_archive_path",
                schema: "runsaga",
                table: "runs",
                column: "archive_path",
                unique: true,
                filter: "archive_path IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "IX_runs_status_completed_at_failed_at",
                schema: "runsaga",
                table: "runs",
                columns: new[] { "status", "completed_at", "failed_at" },
                filter: "deleted_at IS NULL AND status IN ('Completed', 'Failed')");

            migrationBuilder.CreateIndex(
                name: "IX_run_audit_run_id",
                schema: "runsaga",
                table: "run_audit",
                column: "run_id");

            migrationBuilder.CreateIndex(
                name: "IX_run_audit_source_recorded_at",
                schema: "runsaga",
                table: "run_audit",
                columns: new[] { "source", "recorded_at" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "run_audit",
                schema: "runsaga");

            migrationBuilder.DropIndex(
                name: "IX_runs_archive_path",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropIndex(
                name: "IX_runs_status_completed_at_failed_at",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "archive_path",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "archive_sha256",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "archived_at",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "deleted_at",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "deletion_reason",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "pinned_until",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "restored_at",
                schema: "runsaga",
                table: "runs");
        }
    }
}
