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

            migrationBuilder.Sql(ProjectState.CreateView);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(ProjectState.DropView);

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
