using System;
using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace RunSaga.Shared.Data.Migrations
{
    /// <inheritdoc />
    public partial class Retention : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "retention_withheld",
                schema: "runsaga",
                table: "runs",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.CreateTable(
                name: "retention_cycles",
                schema: "runsaga",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityAlwaysColumn),
                    source = table.Column<string>(type: "text", nullable: true),
                    trigger = table.Column<string>(type: "text", nullable: false),
                    run_id = table.Column<Guid>(type: "uuid", nullable: true),
                    dry_run = table.Column<bool>(type: "boolean", nullable: false),
                    started_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    finished_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    outcome = table.Column<string>(type: "text", nullable: false),
                    projects_deleted = table.Column<int>(type: "integer", nullable: false),
                    runs_archived = table.Column<int>(type: "integer", nullable: false),
                    runs_deleted = table.Column<int>(type: "integer", nullable: false),
                    reason = table.Column<string>(type: "text", nullable: true),
                    error = table.Column<string>(type: "text", nullable: true),
                    sample_keys = table.Column<List<string>>(type: "text[]", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_retention_cycles", x => x.id);
                    table.CheckConstraint("ck_retention_cycles_outcome", "outcome IN ('running', 'succeeded', 'skipped', 'withheld', 'failed')");
                });

            migrationBuilder.CreateTable(
                name: "schedules",
                schema: "runsaga",
                columns: table => new
                {
                    name = table.Column<string>(type: "text", nullable: false),
                    cron = table.Column<string>(type: "text", nullable: false),
                    next_fire_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    last_fired_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_schedules", x => x.name);
                });

            migrationBuilder.CreateTable(
                name: "source_retention",
                schema: "runsaga",
                columns: table => new
                {
                    source = table.Column<string>(type: "text", nullable: false),
                    withheld = table.Column<bool>(type: "boolean", nullable: false),
                    withheld_by_run_id = table.Column<Guid>(type: "uuid", nullable: true),
                    withheld_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    withheld_reason = table.Column<string>(type: "text", nullable: true),
                    released_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    released_by = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_source_retention", x => x.source);
                });

            migrationBuilder.CreateIndex(
                name: "IX_retention_cycles_source_started_at",
                schema: "runsaga",
                table: "retention_cycles",
                columns: new[] { "source", "started_at" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "retention_cycles",
                schema: "runsaga");

            migrationBuilder.DropTable(
                name: "schedules",
                schema: "runsaga");

            migrationBuilder.DropTable(
                name: "source_retention",
                schema: "runsaga");

            migrationBuilder.DropColumn(
                name: "retention_withheld",
                schema: "runsaga",
                table: "runs");
        }
    }
}
