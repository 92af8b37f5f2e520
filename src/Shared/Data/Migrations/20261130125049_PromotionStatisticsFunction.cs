using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RunSaga.Shared.Data.Migrations
{
    /// <summary>
    /// The hosts' role need not own the tables (docs/security.md): the promotion's ANALYZE of a large run goes through a
    /// SECURITY DEFINER function owned by the role that migrates, which only it may otherwise run.
    /// </summary>
    public partial class PromotionStatisticsFunction : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                CREATE FUNCTION runsaga.refresh_promotion_statistics() RETURNS void
                LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
                $$ ANALYZE runsaga.staged_items, runsaga.project_rows $$;
                REVOKE ALL ON FUNCTION runsaga.refresh_promotion_statistics() FROM PUBLIC;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP FUNCTION IF EXISTS runsaga.refresh_promotion_statistics()");
        }
    }
}
