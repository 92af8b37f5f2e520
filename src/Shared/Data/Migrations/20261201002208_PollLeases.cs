using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RunSaga.Shared.Data.Migrations
{
    /// <inheritdoc />
    public partial class PollLeases : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "poll_leases",
                schema: "runsaga",
                columns: table => new
                {
                    name = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    next_poll_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    polled_by = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    polled_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_poll_leases", x => x.name);
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "poll_leases",
                schema: "runsaga");
        }
    }
}
