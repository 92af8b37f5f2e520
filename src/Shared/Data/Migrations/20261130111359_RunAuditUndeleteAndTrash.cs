using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RunSaga.Shared.Data.Migrations
{
    /// <inheritdoc />
    public partial class RunAuditUndeleteAndTrash : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropCheckConstraint(
                name: "ck_run_audit_action",
                schema: "runsaga",
                table: "run_audit");

            migrationBuilder.AddCheckConstraint(
                name: "ck_run_audit_action",
                schema: "runsaga",
                table: "run_audit",
                sql: "action IN ('deleted', 'hard-deleted', 'undeleted', 'trash-purged')");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropCheckConstraint(
                name: "ck_run_audit_action",
                schema: "runsaga",
                table: "run_audit");

            migrationBuilder.AddCheckConstraint(
                name: "ck_run_audit_action",
                schema: "runsaga",
                table: "run_audit",
                sql: "action IN ('deleted', 'hard-deleted')");
        }
    }
}
