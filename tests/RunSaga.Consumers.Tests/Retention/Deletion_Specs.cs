using RunSaga.Consumers.Retention;
using RunSaga.Consumers.Tests.Infrastructure;

namespace RunSaga.Consumers.Tests.Retention;

public sealed class When_a_run_ages_past_delete_after_days(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_soft_delete_it_keeping_the_row_and_an_audit_row()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var run = await ledger.Finished(folder: "soft", items: 3);
        ledger.Advance(8);
        await ledger.Cycle();
        var file = ledger.FullPath((await ledger.Row(run))!.ArchivePath!);
        Assert.True(File.Exists(file));

        ledger.Advance(21.5);
        Assert.Equal(0, (await ledger.Cycle()).RunsDeleted);
        ledger.Advance(0.5);
        var cycle = await ledger.Cycle();

        Assert.Equal(1, cycle.RunsDeleted);
        Assert.False(File.Exists(file));
        Assert.True(File.Exists(ledger.FullPath($".trash/{run:N}/2026/03/soft.tar.gz")), "a soft deletion keeps the archive in the trash");
        var row = await ledger.Row(run);
        Assert.Equal(ledger.Now, row!.DeletedAt);
        Assert.Contains("DELETE_AFTER_DAYS=30", row.DeletionReason, StringComparison.Ordinal);
        Assert.Null(row.ArchivePath);
        Assert.Equal(
            $"deleted retention {ledger.Source} soft 2026/03/soft.tar.gz 3 {run}",
            await database.DataSource.ScalarAsync<string>(
                "SELECT concat_ws(' ', action, requested_by, source, folder_name, archive_path, staged_items, run_row->>'id') FROM runsaga.run_audit WHERE run_id = @run",
                ("run", run)));
    }

    [Fact]
    public async Task Should_hard_delete_it_removing_the_row_but_keeping_the_audit_row()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        ledger.Options.DeletionStrategy = "hard";
        var run = await ledger.Finished(items: 3);
        ledger.Advance(31);

        var cycle = await ledger.Cycle();

        Assert.Equal((0, 1), (cycle.RunsArchived, cycle.RunsDeleted));
        Assert.Null(await ledger.Row(run));
        Assert.Equal(0, await ledger.StagedItems(run));
        Assert.Equal(
            "hard-deleted Completed 3",
            await database.DataSource.ScalarAsync<string>(
                "SELECT concat_ws(' ', action, run_row->>'status', staged_items) FROM runsaga.run_audit WHERE run_id = @run", ("run", run)));
    }

    [Fact]
    public async Task Should_keep_failed_runs_on_their_own_clock_which_takes_fractions_of_days()
    {
        await FailedClock("Failed");
    }

    [Fact]
    public async Task Should_treat_a_cancelled_run_as_a_failed_one()
    {
        await FailedClock("Cancelled");
    }

    private async Task FailedClock(string unfinished)
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        ledger.Options.ArchiveAfterDays = 0.1;
        ledger.Options.DeleteAfterDays = 1;
        ledger.Options.FailedDeleteAfterDays = 0.25;
        var completed = await ledger.Finished("Completed");
        var failed = await ledger.Finished(unfinished);

        ledger.Advance(0.2);
        var first = await ledger.Cycle();
        ledger.Advance(0.1);
        var second = await ledger.Cycle();

        Assert.Equal((2, 0), (first.RunsArchived, first.RunsDeleted));
        Assert.Equal((0, 1), (second.RunsArchived, second.RunsDeleted));
        Assert.NotNull((await ledger.Row(failed))!.DeletedAt);
        Assert.Contains("FAILED_DELETE_AFTER_DAYS=0.25", (await ledger.Row(failed))!.DeletionReason, StringComparison.Ordinal);
        Assert.Null((await ledger.Row(completed))!.DeletedAt);
    }

    [Fact]
    public async Task Should_delete_on_request_at_any_age_with_who_and_why_audited()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var run = await ledger.Finished(items: 2);

        var result = await ledger.Artifacts.DeleteAsync(run, "scraped the wrong site", "alice", manual: true, CancellationToken.None);

        Assert.Equal((ArtifactOutcome.Deleted, "soft"), (result.Outcome, result.Detail));
        Assert.Equal(0, await ledger.StagedItems(run));
        Assert.Equal(
            "deleted scraped the wrong site alice",
            await database.DataSource.ScalarAsync<string>(
                "SELECT concat_ws(' ', action, reason, requested_by) FROM runsaga.run_audit WHERE run_id = @run", ("run", run)));
        Assert.Equal(ArtifactOutcome.Skipped, (await ledger.Artifacts.DeleteAsync(run, "again", "alice", manual: true, CancellationToken.None)).Outcome);
        Assert.Equal(1L, await database.DataSource.ScalarAsync<long>("SELECT count(*) FROM runsaga.run_audit WHERE run_id = @run", ("run", run)));
    }

    [Theory]
    [InlineData("Running")]
    [InlineData("Flushed")]
    public async Task Should_refuse_to_archive_or_delete_an_open_run(string status)
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var run = await ledger.Finished(status);

        await Assert.ThrowsAsync<RetentionRefusedException>(() => ledger.Artifacts.ArchiveAsync(run, manual: true, CancellationToken.None));
        await Assert.ThrowsAsync<RetentionRefusedException>(() => ledger.Artifacts.DeleteAsync(run, "why", "bob", manual: true, CancellationToken.None));
        ledger.Advance(400);
        var cycle = await ledger.Cycle();

        Assert.Equal((0, 0), (cycle.RunsArchived, cycle.RunsDeleted));
        Assert.Equal(3, await ledger.StagedItems(run));
    }
}

public sealed class When_a_run_is_pinned(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_neither_archive_nor_delete_it_until_the_pin_expires_or_is_lifted()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var pinned = await ledger.Finished(items: 3);
        var before = await ledger.Staging(pinned);
        await ledger.Artifacts.PinAsync(pinned, new DateTimeOffset(ledger.Now.AddDays(60)), CancellationToken.None);

        ledger.Advance(40);
        var cycle = await ledger.Cycle();

        Assert.Equal((0, 0), (cycle.RunsArchived, cycle.RunsDeleted));
        Assert.Equal(before, await ledger.Staging(pinned));
        await Assert.ThrowsAsync<RetentionRefusedException>(() => ledger.Artifacts.DeleteAsync(pinned, "why", "bob", manual: true, CancellationToken.None));
        await Assert.ThrowsAsync<RetentionRefusedException>(() => ledger.Artifacts.ArchiveAsync(pinned, manual: true, CancellationToken.None));
        Assert.Equal(before, await ledger.Staging(pinned));

        await ledger.Artifacts.PinAsync(pinned, null, CancellationToken.None);
        Assert.Equal(1, (await ledger.Cycle()).RunsDeleted);
    }

    [Fact]
    public async Task Should_keep_a_restored_run_in_staging_while_pinned()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var run = await ledger.Finished(items: 3);
        ledger.Advance(8);
        await ledger.Cycle();
        await ledger.Artifacts.RestoreAsync(run, CancellationToken.None);
        await ledger.Artifacts.PinAsync(run, new DateTimeOffset(ledger.Now.AddDays(3)), CancellationToken.None);

        ledger.Advance(1);
        Assert.Equal(0, (await ledger.Cycle()).RunsArchived);
        Assert.Equal(3, await ledger.StagedItems(run));

        ledger.Advance(3);
        Assert.Equal(1, (await ledger.Cycle()).RunsArchived);
        Assert.Equal(0, await ledger.StagedItems(run));
    }
}

public sealed class When_a_dry_run_precedes_a_cycle(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_change_nothing_and_report_what_the_real_cycle_then_does()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var old = await ledger.Finished(items: 2);
        ledger.Advance(25);
        var recent = await ledger.Finished(items: 2);
        ledger.Advance(8);
        var untouched = await ledger.Finished(items: 2);
        var before = string.Join("|", await ledger.Staging(old), await ledger.Staging(recent), await ledger.Staging(untouched));

        var dry = await ledger.Cycle(dryRun: true);

        Assert.Equal(before, string.Join("|", await ledger.Staging(old), await ledger.Staging(recent), await ledger.Staging(untouched)));
        Assert.Null((await ledger.Row(recent))!.ArchivedAt);
        Assert.Null((await ledger.Row(old))!.DeletedAt);
        Assert.Empty(Directory.Exists(ledger.Options.ArchiveBasePath) ? Directory.GetFiles(ledger.Options.ArchiveBasePath, "*", SearchOption.AllDirectories) : []);

        var real = await ledger.Cycle();

        Assert.Equal((1, 1), (dry.RunsArchived, dry.RunsDeleted));
        Assert.Equal((dry.RunsArchived, dry.RunsDeleted, dry.ProjectsDeleted), (real.RunsArchived, real.RunsDeleted, real.ProjectsDeleted));
        Assert.NotNull((await ledger.Row(recent))!.ArchivedAt);
        Assert.NotNull((await ledger.Row(old))!.DeletedAt);
        Assert.Null((await ledger.Row(untouched))!.ArchivedAt);
    }
}

public sealed class When_batches_were_staged_for_a_run_id_no_event_ever_named(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_delete_them_after_delete_after_days_in_the_cycle_for_runs_without_a_source()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var orphan = await Runs.StageAsync(database.DataSource, ("b1", [Scrape.Item("a"), Scrape.Item("b")]), ("b2", [Scrape.Item("c")]));
        var recent = await Runs.StageAsync(database.DataSource, ("b1", [Scrape.Item("a")]));
        await database.DataSource.ExecuteAsync(
            "UPDATE runsaga.staged_batches SET staged_at = @at WHERE run_id = @run", ("at", ledger.Now.AddDays(-31)), ("run", orphan));
        await database.DataSource.ExecuteAsync(
            "UPDATE runsaga.staged_batches SET staged_at = @at WHERE run_id = @run", ("at", ledger.Now.AddDays(-29)), ("run", recent));

        var dry = await ledger.CycleForRunsWithoutASource(dryRun: true);
        Assert.Equal(3, await ledger.StagedItems(orphan));
        var cycle = await ledger.CycleForRunsWithoutASource();

        Assert.True(dry.RunsDeleted >= 1 && cycle.RunsDeleted >= 1, $"dry {dry.RunsDeleted}, real {cycle.RunsDeleted}");
        Assert.Equal(0, await ledger.StagedItems(orphan));
        Assert.Equal(1, await ledger.StagedItems(recent));
        Assert.Equal(
            "deleted Unknown 3 retention",
            await database.DataSource.ScalarAsync<string>(
                "SELECT concat_ws(' ', action, status, staged_items, requested_by) FROM runsaga.run_audit WHERE run_id = @run", ("run", orphan)));
    }
}

public sealed class When_a_soft_deleted_run_is_undeleted(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_bring_back_the_run_and_its_archive_so_its_items_restore_byte_for_byte()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var run = await ledger.Finished(folder: "undo", items: 6);
        var staged = await ledger.Staging(run);
        ledger.Advance(8);
        await ledger.Cycle();
        var archived = (await ledger.Row(run))!.ArchivePath!;
        ledger.Advance(23);
        Assert.Equal(1, (await ledger.Cycle()).RunsDeleted);
        Assert.False(File.Exists(ledger.FullPath(archived)));
        ledger.Advance(1);

        var result = await ledger.Artifacts.UndeleteAsync(run, "bob", CancellationToken.None);

        Assert.Equal((ArtifactOutcome.Undeleted, archived), (result.Outcome, result.ArchivePath));
        var row = (await ledger.Row(run))!;
        Assert.Equal((null, null, archived), (row.DeletedAt, row.DeletionReason, row.ArchivePath));
        Assert.True(File.Exists(ledger.FullPath(archived)));
        Assert.False(File.Exists(ledger.FullPath($".trash/{run:N}/{archived}")));
        Assert.Equal("deleted retention|undeleted bob", await database.DataSource.ScalarAsync<string>(
            "SELECT string_agg(action || ' ' || requested_by, '|' ORDER BY id) FROM runsaga.run_audit WHERE run_id = @run", ("run", run)));

        await ledger.Artifacts.RestoreAsync(run, CancellationToken.None);
        Assert.Equal(staged, await ledger.Staging(run));

        // Past DELETE_AFTER_DAYS since it finished, yet pinned for DELETE_AFTER_DAYS from its undeletion: the next cycle
        // keeps it instead of deleting it again at once.
        ledger.Advance(1);
        Assert.Equal(0, (await ledger.Cycle()).RunsDeleted);
        Assert.Null((await ledger.Row(run))!.DeletedAt);
    }

    [Fact]
    public async Task Should_purge_the_trash_after_trash_keep_days_audited_and_then_say_the_run_is_gone()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var run = await ledger.Finished(folder: "purged", items: 2);
        ledger.Advance(8);
        await ledger.Cycle();
        var archived = (await ledger.Row(run))!.ArchivePath!;
        ledger.Advance(23);
        Assert.Equal(1, (await ledger.Cycle()).RunsDeleted);
        Assert.True(File.Exists(ledger.FullPath($".trash/{run:N}/{archived}")));

        ledger.Advance(6.9);
        await ledger.Cycle();
        Assert.True(File.Exists(ledger.FullPath($".trash/{run:N}/{archived}")), "kept for TRASH_KEEP_DAYS=7");
        ledger.Advance(0.2);
        await ledger.Cycle();
        await ledger.Cycle();

        Assert.False(File.Exists(ledger.FullPath($".trash/{run:N}/{archived}")));
        Assert.Equal(1L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.run_audit WHERE run_id = @run AND action = 'trash-purged' AND requested_by = 'retention'", ("run", run)));
        var refusal = await Assert.ThrowsAsync<RetentionRefusedException>(() => ledger.Artifacts.UndeleteAsync(run, "bob", CancellationToken.None));
        Assert.Contains("no longer in the trash", refusal.Message, StringComparison.Ordinal);
        Assert.NotNull((await ledger.Row(run))!.DeletedAt);
    }

    [Fact]
    public async Task Should_refuse_runs_that_cannot_come_back_and_say_why()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var fresh = await ledger.Finished(items: 2);
        var notDeleted = await Assert.ThrowsAsync<RetentionRefusedException>(() => ledger.Artifacts.UndeleteAsync(fresh, "bob", CancellationToken.None));
        Assert.Contains("is not deleted", notDeleted.Message, StringComparison.Ordinal);

        await ledger.Artifacts.DeleteAsync(fresh, "never archived", "alice", manual: true, CancellationToken.None);
        var neverArchived = await Assert.ThrowsAsync<RetentionRefusedException>(() => ledger.Artifacts.UndeleteAsync(fresh, "bob", CancellationToken.None));
        Assert.Contains("before it was ever archived", neverArchived.Message, StringComparison.Ordinal);

        ledger.Options.DeletionStrategy = "hard";
        var hard = await ledger.Finished(items: 2);
        await ledger.Artifacts.DeleteAsync(hard, "gone", "alice", manual: true, CancellationToken.None);
        var hardDeleted = await Assert.ThrowsAsync<RetentionRefusedException>(() => ledger.Artifacts.UndeleteAsync(hard, "bob", CancellationToken.None));
        Assert.Contains("hard-deleted run cannot be undeleted", hardDeleted.Message, StringComparison.Ordinal);
    }
}
