using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Failures;

/// <summary>
/// A trigger installed in the test database refuses the key <c>poison</c> of this spec's source, so the promotion
/// statement fails halfway through the run's items (after other rows were already written in its transaction).
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_promotion_faults(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private const string Refusal = "integration test refuses the poison item";

    [Fact]
    public async Task Should_fail_PROMOTION_FAILED_and_leave_projects_identical()
    {
        var source = NewSource("promotion-fault");
        var (checksum, harmful) = await SeedBeforeAFailure(source);
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var function = $"runsaga.it_refuse_poison_{suffix}";
        var trigger = $"it_refuse_poison_{suffix}";
        await Db.Execute($"""
            CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{Refusal}: %', NEW.key;
            END $$;
            CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON runsaga.project_rows
                FOR EACH ROW WHEN (NEW.source = '{source}' AND NEW.key = 'poison') EXECUTE FUNCTION {function}();
            """);
        try
        {
            var run = new ScrapeRun(source);
            List<Item> items = [.. harmful, new Item("poison", "Poison", "https://example.test/poison")];
            await Publisher.Publish(run.Whole(items.InBatches(25)));

            var row = await ExpectFailed(run.RunId, "PROMOTION_FAILED");
            Assert.Contains(Refusal, row.ErrorDetail, StringComparison.Ordinal);
            Assert.Equal("failed", (string?)row.Step("promotion")?["status"]);
            await AssertProjectsUntouchedBy(run.RunId, checksum);
        }
        finally
        {
            await Db.Execute($"DROP TRIGGER IF EXISTS {trigger} ON runsaga.project_rows; DROP FUNCTION IF EXISTS {function}();");
        }
    }
}
