using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RunSaga.Shared.Data.Migrations
{
    /// <inheritdoc />
    public partial class RunsByCreation : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_runs_created_at_id",
                schema: "runsaga",
                table: "runs",
                columns: new[] { "created_at", "id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_runs_created_at_id",
                schema: "runsaga",
                table: "runs");
        }
    }
}
