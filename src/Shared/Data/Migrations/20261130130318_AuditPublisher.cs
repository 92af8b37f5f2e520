using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RunSaga.Shared.Data.Migrations
{
    /// <inheritdoc />
    public partial class AuditPublisher : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "published_by",
                schema: "runsaga",
                table: "run_audit",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "published_by",
                schema: "runsaga",
                table: "retention_cycles",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "requested_by",
                schema: "runsaga",
                table: "retention_cycles",
                type: "text",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "published_by",
                schema: "runsaga",
                table: "run_audit");

            migrationBuilder.DropColumn(
                name: "published_by",
                schema: "runsaga",
                table: "retention_cycles");

            migrationBuilder.DropColumn(
                name: "requested_by",
                schema: "runsaga",
                table: "retention_cycles");
        }
    }
}
