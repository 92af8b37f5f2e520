using RunSaga.Consumers.Retention;
using RunSaga.Consumers.Tests.Infrastructure;

namespace RunSaga.Consumers.Tests.Retention;

public sealed class When_an_item_goes_missing_from_consecutive_full_runs(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_delete_it_only_after_the_third_with_a_deleted_lineage_row()
    {
        var history = new SourceHistory(database.DataSource, keepRuns: 3);
        await history.Completed("ingestion", "a", "b", "c");
        Assert.Equal(CycleOutcome.Skipped, (await history.Prune()).Outcome);
        await history.Completed("ingestion", "a", "b", "c");
        await history.Completed("ingestion", "a", "b", "c");

        await history.Completed("ingestion", "a", "b");
        Assert.Equal((0, true), ((await history.Prune()).ProjectsDeleted, await history.Has("c")));
        await history.Completed("ingestion", "a", "b");
        Assert.Equal((0, true), ((await history.Prune()).ProjectsDeleted, await history.Has("c")));
        var third = await history.Completed("ingestion", "a", "b");
        var result = await history.Prune();

        Assert.Equal((CycleOutcome.Succeeded, 1, third), (result.Outcome, result.ProjectsDeleted, result.AppliedBy));
        Assert.False(await history.Has("c"));
        Assert.Equal(2, await history.Count());
        Assert.Equal(1L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.project_lineage WHERE source = @s AND key = 'c' AND change = 'deleted' AND run_id = @r",
            ("s", history.Source), ("r", third)));
    }

    [Fact]
    public async Task Should_still_count_full_runs_whose_rows_hard_deletion_removed()
    {
        // A source scraped rarely: by the time the third run without c completes, the runs before it are past
        // DELETE_AFTER_DAYS and DELETION_STRATEGY=hard removed their rows.
        var history = new SourceHistory(database.DataSource, keepRuns: 3);
        var old = new[]
        {
            await history.Completed("ingestion", "a", "b", "c"),
            await history.Completed("ingestion", "a", "b"),
            await history.Completed("ingestion", "a", "b"),
        };
        foreach (var run in old)
        {
            await database.DataSource.ExecuteAsync(Consumers.Retention.ArtifactSql.HardDelete, ("run", run));
        }

        var newest = await history.Completed("ingestion", "a", "b");
        var result = await history.Prune();

        Assert.Equal((CycleOutcome.Succeeded, 1, newest), (result.Outcome, result.ProjectsDeleted, result.AppliedBy));
        Assert.False(await history.Has("c"));
        Assert.True(await history.Has("a"));
    }

    [Fact]
    public async Task Should_prune_nothing_while_fewer_than_keep_runs_full_runs_completed()
    {
        var history = new SourceHistory(database.DataSource, keepRuns: 3);
        await history.Completed("ingestion", "a", "b", "c");
        await history.Completed("ingestion", "a", "b");

        var result = await history.Prune();

        Assert.Equal(CycleOutcome.Skipped, result.Outcome);
        Assert.Contains("KEEP_RUNS=3", result.Reason, StringComparison.Ordinal);
        Assert.True(await history.Has("c"));
    }
}

public sealed class When_the_newest_run_of_a_source_failed_or_is_open(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Theory]
    [InlineData("Failed")]
    [InlineData("Cancelled")]
    [InlineData("Running")]
    [InlineData("Flushed")]
    public async Task Should_prune_nothing(string status)
    {
        var history = new SourceHistory(database.DataSource, keepRuns: 1);
        await history.Completed("ingestion", "a", "b");
        await history.Completed("ingestion", "a");
        await history.Unfinished(status);
        var before = await database.DataSource.ProjectsFingerprintAsync();

        var result = await history.Prune();

        Assert.Equal(CycleOutcome.Skipped, result.Outcome);
        Assert.Contains(status, result.Reason, StringComparison.Ordinal);
        Assert.Equal(before, await database.DataSource.ProjectsFingerprintAsync());
    }

    [Fact]
    public async Task Should_not_count_a_failed_run_between_completed_ones()
    {
        var history = new SourceHistory(database.DataSource, keepRuns: 2);
        await history.Completed("ingestion", "a", "b");
        await history.Completed("ingestion", "a", "b");
        await history.Unfinished("Failed");
        await history.Completed("ingestion", "a", "b");

        Assert.Equal(0, (await history.Prune()).ProjectsDeleted);
        Assert.Equal(2, await history.Count());
    }
}

public sealed class When_only_sync_runs_follow(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_delete_nothing_they_did_not_carry()
    {
        var history = new SourceHistory(database.DataSource, keepRuns: 2);
        await history.Completed("ingestion", "a", "b", "c");
        await history.Completed("ingestion", "a", "b", "c");
        await history.Completed("sync", "a");
        await history.Completed("sync", "a");
        await history.Completed("sync", "a");

        Assert.Equal(0, (await history.Prune()).ProjectsDeleted);
        Assert.Equal(3, await history.Count());
    }

    [Fact]
    public async Task Should_keep_an_item_a_sync_run_saw_after_the_last_full_runs()
    {
        var history = new SourceHistory(database.DataSource, keepRuns: 1);
        await history.Completed("ingestion", "a", "b");
        await history.Completed("ingestion", "a");
        await history.Completed("sync", "b");

        Assert.Equal(0, (await history.Prune()).ProjectsDeleted);
        Assert.True(await history.Has("b"));
    }
}

public sealed class When_a_full_run_is_suspiciously_small(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private static readonly string[] All = ["a", "b", "c", "d", "e", "f"];

    [Fact]
    public async Task Should_withhold_retention_until_released()
    {
        var history = new SourceHistory(database.DataSource, keepRuns: 1, minRunRatio: 0.5);
        await history.Completed("ingestion", All);
        var small = await history.Completed("ingestion", "a", "b");

        var withheld = await history.Prune();
        Assert.Equal((CycleOutcome.Withheld, small, 0), (withheld.Outcome, withheld.WithheldBy, withheld.ProjectsDeleted));
        Assert.Equal(6, await history.Count());
        Assert.True(await database.DataSource.ScalarAsync<bool>("SELECT retention_withheld FROM runsaga.runs WHERE id = @id", ("id", small)));

        // A normal run afterwards does not lift it: only an operator does.
        await history.Completed("ingestion", "a", "b", "c");
        Assert.Equal(CycleOutcome.Withheld, (await history.Prune()).Outcome);
        Assert.Equal(6, await history.Count());

        await history.Pruner.ReleaseAsync(history.Source, "ops@example", CancellationToken.None);
        var released = await history.Prune();
        Assert.Equal((CycleOutcome.Succeeded, 3), (released.Outcome, released.ProjectsDeleted));
        Assert.Equal(3, await history.Count());
    }
}

public sealed class When_a_cycle_is_a_dry_run(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_change_nothing_and_report_what_the_real_cycle_then_does()
    {
        var history = new SourceHistory(database.DataSource, keepRuns: 1);
        await history.Completed("ingestion", "a", "b", "c", "d");
        await history.Completed("ingestion", "a", "b");
        var before = await database.DataSource.ProjectsFingerprintAsync();

        var dry = await history.Prune(dryRun: true);

        Assert.Equal((CycleOutcome.Succeeded, 2), (dry.Outcome, dry.ProjectsDeleted));
        Assert.Equal(["c", "d"], dry.SampleKeys);
        Assert.Equal(before, await database.DataSource.ProjectsFingerprintAsync());

        var real = await history.Prune();
        Assert.Equal(dry.ProjectsDeleted, real.ProjectsDeleted);
        Assert.Equal(dry.SampleKeys, real.SampleKeys);
        Assert.False(await history.Has("c"));
    }
}

public sealed class When_a_cycle_fails(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_record_it_failed_and_delete_nothing()
    {
        var history = new SourceHistory(database.DataSource, keepRuns: 1);
        await history.Completed("ingestion", "a", "b", "keep-me");
        await history.Completed("ingestion", "a", "b");
        await database.DataSource.ExecuteAsync($"""
            CREATE FUNCTION runsaga.refuse_delete_{history.Source.Replace('-', '_')}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF OLD.key = 'keep-me' THEN RAISE EXCEPTION 'disk full (simulated)'; END IF;
                RETURN OLD;
            END $$;
            CREATE TRIGGER refuse_delete BEFORE DELETE ON runsaga.project_rows
                FOR EACH ROW EXECUTE FUNCTION runsaga.refuse_delete_{history.Source.Replace('-', '_')}();
            """);
        var before = await database.DataSource.ProjectsFingerprintAsync();
        try
        {
            var result = await history.Prune();

            Assert.Equal(CycleOutcome.Failed, result.Outcome);
            Assert.Contains("disk full", result.Reason, StringComparison.Ordinal);
            Assert.Equal(before, await database.DataSource.ProjectsFingerprintAsync());
            Assert.Equal("failed", await database.DataSource.ScalarAsync<string>(
                "SELECT outcome FROM runsaga.retention_cycles WHERE id = @id", ("id", result.CycleId)));
            Assert.Equal(0L, await database.DataSource.ScalarAsync<long>(
                "SELECT count(*) FROM runsaga.project_lineage WHERE source = @s AND change = 'deleted'", ("s", history.Source)));
        }
        finally
        {
            await database.DataSource.ExecuteAsync("DROP TRIGGER refuse_delete ON runsaga.project_rows");
        }
    }
}

public sealed class When_retention_cycles_run(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_record_every_cycle_with_its_outcome_and_counts()
    {
        var history = new SourceHistory(database.DataSource, keepRuns: 1);
        await history.Completed("ingestion", "a", "b");
        await history.Prune();
        await history.Completed("ingestion", "a");
        await history.Prune(dryRun: true);
        await history.Prune();

        var rows = await database.DataSource.ScalarAsync<string>("""
            SELECT string_agg(outcome || ':' || projects_deleted || ':' || (finished_at IS NOT NULL), ',' ORDER BY id)
            FROM runsaga.retention_cycles WHERE source = @s
            """, ("s", history.Source));
        Assert.Equal("succeeded:0:true,succeeded:1:true,succeeded:1:true", rows);
        Assert.Equal(1L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.retention_cycles WHERE source = @s AND dry_run", ("s", history.Source)));
    }
}
