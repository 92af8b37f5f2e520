using System;
using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace RunSaga.Shared.Data.Migrations
{
    /// <inheritdoc />
    public partial class InitialSchema : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.EnsureSchema(
                name: "runsaga");

            migrationBuilder.CreateTable(
                name: "flush_requests",
                schema: "runsaga",
                columns: table => new
                {
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    expected_items = table.Column<int>(type: "integer", nullable: false),
                    expected_batches = table.Column<int>(type: "integer", nullable: false),
                    requested_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_flush_requests", x => x.run_id);
                });

            migrationBuilder.CreateTable(
                name: "project_lineage",
                schema: "runsaga",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityAlwaysColumn),
                    source = table.Column<string>(type: "text", nullable: false),
                    key = table.Column<string>(type: "text", nullable: false),
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    batch_id = table.Column<string>(type: "text", nullable: true),
                    change = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    content_hash = table.Column<string>(type: "text", nullable: true),
                    recorded_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_project_lineage", x => x.id);
                    table.CheckConstraint("ck_project_lineage_change", "change IN ('created', 'updated', 'errored', 'deleted')");
                });

            migrationBuilder.CreateTable(
                name: "projects",
                schema: "runsaga",
                columns: table => new
                {
                    source = table.Column<string>(type: "text", nullable: false),
                    key = table.Column<string>(type: "text", nullable: false),
                    title = table.Column<string>(type: "text", nullable: true),
                    url = table.Column<string>(type: "text", nullable: true),
                    data = table.Column<string>(type: "jsonb", nullable: true),
                    content_hash = table.Column<string>(type: "text", nullable: false),
                    status = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    error = table.Column<string>(type: "text", nullable: true),
                    created_by_run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    last_updated_by_run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    last_confirmed_run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    batch_id = table.Column<string>(type: "text", nullable: false),
                    first_seen_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    last_seen_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_projects", x => new { x.source, x.key });
                    table.CheckConstraint("ck_projects_status", "status IN ('ok', 'error')");
                });

            migrationBuilder.CreateTable(
                name: "run_lineage",
                schema: "runsaga",
                columns: table => new
                {
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    source = table.Column<string>(type: "text", nullable: false),
                    process_type = table.Column<string>(type: "text", nullable: false),
                    discovered = table.Column<int>(type: "integer", nullable: false),
                    updated = table.Column<int>(type: "integer", nullable: false),
                    deleted = table.Column<int>(type: "integer", nullable: false),
                    errored = table.Column<int>(type: "integer", nullable: false),
                    unchanged = table.Column<int>(type: "integer", nullable: false),
                    batch_ids = table.Column<List<string>>(type: "text[]", nullable: false),
                    stamped_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_run_lineage", x => x.run_id);
                });

            migrationBuilder.CreateTable(
                name: "run_promotions",
                schema: "runsaga",
                columns: table => new
                {
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    source = table.Column<string>(type: "text", nullable: false),
                    inserted = table.Column<int>(type: "integer", nullable: false),
                    updated = table.Column<int>(type: "integer", nullable: false),
                    unchanged = table.Column<int>(type: "integer", nullable: false),
                    errored = table.Column<int>(type: "integer", nullable: false),
                    promoted_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_run_promotions", x => x.run_id);
                });

            migrationBuilder.CreateTable(
                name: "runs",
                schema: "runsaga",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    version = table.Column<int>(type: "integer", nullable: false),
                    saga_state = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    source = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    process_type = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    idempotency_key = table.Column<string>(type: "character varying(512)", maxLength: 512, nullable: true),
                    input_version = table.Column<string>(type: "text", nullable: true),
                    pipeline_version = table.Column<string>(type: "text", nullable: true),
                    requested_by = table.Column<string>(type: "text", nullable: true),
                    folder_name = table.Column<string>(type: "text", nullable: true),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    requested_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    started_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    flushed_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    completed_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    failed_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    flush_deadline = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    run_deadline = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    resend_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    expected_items = table.Column<int>(type: "integer", nullable: true),
                    expected_batches = table.Column<int>(type: "integer", nullable: true),
                    staged_items = table.Column<int>(type: "integer", nullable: true),
                    staged_batches = table.Column<int>(type: "integer", nullable: true),
                    rejected_items = table.Column<int>(type: "integer", nullable: true),
                    inserted = table.Column<int>(type: "integer", nullable: true),
                    updated = table.Column<int>(type: "integer", nullable: true),
                    unchanged = table.Column<int>(type: "integer", nullable: true),
                    errored = table.Column<int>(type: "integer", nullable: true),
                    error_code = table.Column<string>(type: "text", nullable: true),
                    error_message = table.Column<string>(type: "text", nullable: true),
                    error_detail = table.Column<string>(type: "text", nullable: true),
                    batch_ids = table.Column<List<string>>(type: "text[]", nullable: false),
                    metrics = table.Column<string>(type: "jsonb", nullable: false),
                    metadata = table.Column<string>(type: "jsonb", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_runs", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "staged_batches",
                schema: "runsaga",
                columns: table => new
                {
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    batch_id = table.Column<string>(type: "text", nullable: false),
                    item_count = table.Column<int>(type: "integer", nullable: false),
                    staged_count = table.Column<int>(type: "integer", nullable: false),
                    duplicate_count = table.Column<int>(type: "integer", nullable: false),
                    rejected_count = table.Column<int>(type: "integer", nullable: false),
                    rejections = table.Column<string>(type: "jsonb", nullable: false),
                    staged_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_staged_batches", x => new { x.run_id, x.batch_id });
                });

            migrationBuilder.CreateTable(
                name: "staged_items",
                schema: "runsaga",
                columns: table => new
                {
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    key = table.Column<string>(type: "text", nullable: false),
                    batch_id = table.Column<string>(type: "text", nullable: false),
                    title = table.Column<string>(type: "text", nullable: true),
                    url = table.Column<string>(type: "text", nullable: true),
                    data = table.Column<string>(type: "jsonb", nullable: true),
                    error = table.Column<string>(type: "text", nullable: true),
                    content_hash = table.Column<string>(type: "text", nullable: false),
                    staged_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_staged_items", x => new { x.run_id, x.key });
                });

            migrationBuilder.CreateIndex(
                name: "IX_project_lineage_run_id_change",
                schema: "runsaga",
                table: "project_lineage",
                columns: new[] { "run_id", "change" });

            migrationBuilder.CreateIndex(
                name: "IX_project_lineage_source_key_id",
                schema: "runsaga",
                table: "project_lineage",
                columns: new[] { "source", "key", "id" });

            migrationBuilder.CreateIndex(
                name: "IX_projects_last_updated_by_run_id",
                schema: "runsaga",
                table: "projects",
                column: "last_updated_by_run_id");

            migrationBuilder.CreateIndex(
                name: "IX_runs_flush_deadline",
                schema: "runsaga",
                table: "runs",
                column: "flush_deadline",
                filter: "flush_deadline IS NOT NULL AND status NOT IN ('Completed', 'Failed')");

            migrationBuilder.CreateIndex(
                name: "IX_runs_idempotency_key",
                schema: "runsaga",
                table: "runs",
                column: "idempotency_key",
                unique: true,
                filter: "idempotency_key IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "IX_runs_resend_at",
                schema: "runsaga",
                table: "runs",
                column: "resend_at",
                filter: "resend_at IS NOT NULL AND status NOT IN ('Completed', 'Failed')");

            migrationBuilder.CreateIndex(
                name: "IX_runs_run_deadline",
                schema: "runsaga",
                table: "runs",
                column: "run_deadline",
                filter: "run_deadline IS NOT NULL AND status NOT IN ('Completed', 'Failed')");

            migrationBuilder.CreateIndex(
                name: "IX_runs_source_created_at",
                schema: "runsaga",
                table: "runs",
                columns: new[] { "source", "created_at" });

            migrationBuilder.CreateIndex(
                name: "IX_runs_status_created_at",
                schema: "runsaga",
                table: "runs",
                columns: new[] { "status", "created_at" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "flush_requests",
                schema: "runsaga");

            migrationBuilder.DropTable(
                name: "project_lineage",
                schema: "runsaga");

            migrationBuilder.DropTable(
                name: "projects",
                schema: "runsaga");

            migrationBuilder.DropTable(
                name: "run_lineage",
                schema: "runsaga");

            migrationBuilder.DropTable(
                name: "run_promotions",
                schema: "runsaga");

            migrationBuilder.DropTable(
                name: "runs",
                schema: "runsaga");

            migrationBuilder.DropTable(
                name: "staged_batches",
                schema: "runsaga");

            migrationBuilder.DropTable(
                name: "staged_items",
                schema: "runsaga");
        }
    }
}
