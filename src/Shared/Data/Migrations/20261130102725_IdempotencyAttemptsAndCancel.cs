using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RunSaga.Shared.Data.Migrations
{
    /// <inheritdoc />
    public partial class IdempotencyAttemptsAndCancel : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_runs_flush_deadline",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropIndex(
                name: "IX_runs_idempotency_key",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropIndex(
                name: "IX_runs_resend_at",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropIndex(
                name: "IX_runs_run_deadline",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropIndex(
                name: "IX_runs_status_completed_at_failed_at",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.AddColumn<int>(
                name: "attempt",
                schema: "runsaga",
                table: "runs",
                type: "integer",
                nullable: false,
                defaultValue: 1);

            migrationBuilder.AddColumn<string>(
                name: "cancelled_by",
                schema: "runsaga",
                table: "runs",
                type: "character varying(256)",
                maxLength: 256,
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "duplicate_of",
                schema: "runsaga",
                table: "runs",
                type: "uuid",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "retry_of",
                schema: "runsaga",
                table: "runs",
                type: "uuid",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_runs_flush_deadline",
                schema: "runsaga",
                table: "runs",
                column: "flush_deadline",
                filter: "flush_deadline IS NOT NULL AND status NOT IN ('Completed', 'Failed', 'Cancelled')");

            migrationBuilder.CreateIndex(
                name: "IX_runs_idempotency_key",
                schema: "runsaga",
                table: "runs",
                column: "idempotency_key",
                unique: true,
                filter: "idempotency_key IS NOT NULL AND status NOT IN ('Failed', 'Cancelled')");

            migrationBuilder.CreateIndex(
                name: "IX_runs_idempotency_key_attempts",
                schema: "runsaga",
                table: "runs",
                columns: new[] { "idempotency_key", "created_at" },
                filter: "idempotency_key IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "IX_runs_resend_at",
                schema: "runsaga",
                table: "runs",
                column: "resend_at",
                filter: "resend_at IS NOT NULL AND status NOT IN ('Completed', 'Failed', 'Cancelled')");

            migrationBuilder.CreateIndex(
                name: "IX_runs_run_deadline",
                schema: "runsaga",
                table: "runs",
                column: "run_deadline",
                filter: "run_deadline IS NOT NULL AND status NOT IN ('Completed', 'Failed', 'Cancelled')");

            migrationBuilder.CreateIndex(
                name: "IX_runs_status_completed_at_failed_at",
                schema: "runsaga",
                table: "runs",
                columns: new[] { "status", "completed_at", "failed_at" },
                filter: "deleted_at IS NULL AND status IN ('Completed', 'Failed', 'Cancelled')");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_runs_flush_deadline",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropIndex(
                name: "IX_runs_idempotency_key",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropIndex(
                name: "IX_runs_idempotency_key_attempts",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropIndex(
                name: "IX_runs_resend_at",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropIndex(
                name: "IX_runs_run_deadline",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropIndex(
                name: "IX_runs_status_completed_at_failed_at",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "attempt",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "cancelled_by",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "duplicate_of",
                schema: "runsaga",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "retry_of",
                schema: "runsaga",
                table: "runs");

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
                name: "IX_runs_status_completed_at_failed_at",
                schema: "runsaga",
                table: "runs",
                columns: new[] { "status", "completed_at", "failed_at" },
                filter: "deleted_at IS NULL AND status IN ('Completed', 'Failed')");
        }
    }
}
