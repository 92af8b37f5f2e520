using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RunSaga.Shared.Data.Migrations
{
    /// <inheritdoc />
    public partial class RetentionCompletionIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_runs_source_completed_at",
                schema: "runsaga",
                table: "runs",
                columns: new[] { "source", "completed_at" },
                filter: "completed_at IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_runs_source_completed_at",
                schema: "runsaga",
                table: "runs");
        }
    }
}
