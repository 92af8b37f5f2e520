using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace RunSaga.Shared.Data.Migrations
{
    /// <inheritdoc />
    public partial class StagedContentHashGenerated : Migration
    {
        /// <summary>
        /// staged_items.content_hash becomes a stored generated column, so staging can COPY rows without computing it. The
        /// column is dropped and added again (PostgreSQL cannot turn a column into a generated one): staged rows get the same
        /// hash back, computed over the same stored fields. The table is rewritten once.
        /// </summary>
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // The expression as it was when this migration was written (StagedItem.ContentHashSql), frozen here.
            migrationBuilder.Sql("""
                ALTER TABLE runsaga.staged_items DROP COLUMN content_hash;
                ALTER TABLE runsaga.staged_items ADD COLUMN content_hash text NOT NULL
                    GENERATED ALWAYS AS (md5(coalesce(title, '') || chr(31) || coalesce(url, '') || chr(31) || coalesce(data::text, ''))) STORED;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                ALTER TABLE runsaga.staged_items ADD COLUMN content_hash_plain text;
                UPDATE runsaga.staged_items SET content_hash_plain = content_hash;
                ALTER TABLE runsaga.staged_items DROP COLUMN content_hash;
                ALTER TABLE runsaga.staged_items RENAME COLUMN content_hash_plain TO content_hash;
                ALTER TABLE runsaga.staged_items ALTER COLUMN content_hash SET NOT NULL;
                """);
        }
    }
}
