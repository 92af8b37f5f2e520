using Npgsql;
using RunSaga.Consumers.Staging;
using RunSaga.Consumers.Retention;
using RunSaga.Consumers.Tests.Infrastructure;

namespace RunSaga.Consumers.Tests.Retention;

public sealed class When_a_late_batch_meets_an_archival(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    /// <summary>
    /// The test holds the run's artifact lock as archival does, marks the run archived and commits. A batch started
    /// meanwhile must wait, then see the run archived and stage nothing. Without the shared lock staging takes first,
    /// it would stage its rows at once, before the archival commits, and they would outlive it, in no archive.
    /// </summary>
    [Fact]
    public async Task Should_wait_for_it_and_then_stage_nothing()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var run = await ledger.Finished(items: 2);

        await using var archival = await database.DataSource.OpenConnectionAsync();
        await using var transaction = await archival.BeginTransactionAsync();
        await using (var lockRun = new NpgsqlCommand(
            "SELECT pg_advisory_xact_lock(hashtextextended(@run::text, 7004))", archival, transaction) { Parameters = { new("run", run) } })
        {
            await lockRun.ExecuteNonQueryAsync();
        }

        var late = new BatchStager(database.DataSource).StageAsync(Scrape.Batch(run, "late", ["x", "y"]), CancellationToken.None);
        await Task.Delay(500);
        Assert.False(late.IsCompleted, "the batch should wait for the archival's lock");
        Assert.Equal(0L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @run AND batch_id = 'late'", ("run", run)));

        await using (var mark = new NpgsqlCommand(
            "UPDATE runsaga.runs SET archived_at = now() WHERE id = @run; DELETE FROM runsaga.staged_items WHERE run_id = @run",
            archival, transaction) { Parameters = { new("run", run) } })
        {
            await mark.ExecuteNonQueryAsync();
        }

        await transaction.CommitAsync();

        Assert.True((await late).AlreadyStaged);
        Assert.Equal(0, await ledger.StagedItems(run));
    }
}

public sealed class When_deleting_fails_halfway_through_a_cycle(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_delete_none_of_the_cycles_runs_and_no_file()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var first = await ledger.Finished(items: 2);
        ledger.Advance(1);
        var second = await ledger.Finished(items: 2);
        ledger.Advance(8);
        await ledger.Cycle();
        var file = ledger.FullPath((await ledger.Row(first))!.ArchivePath!);
        var suffix = Guid.NewGuid().ToString("N")[..8];
        await database.DataSource.ExecuteAsync($"""
            CREATE FUNCTION runsaga.refuse_audit_{suffix}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.run_id = '{second}' THEN RAISE EXCEPTION 'audit table full (simulated)'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_audit_{suffix} BEFORE INSERT ON runsaga.run_audit FOR EACH ROW EXECUTE FUNCTION runsaga.refuse_audit_{suffix}();
            """);
        try
        {
            ledger.Advance(30);
            var cycle = await ledger.Cycle();

            Assert.Equal((CycleOutcome.Failed, 0), (cycle.Outcome, cycle.RunsDeleted));
            Assert.Contains("audit table full", cycle.Reason, StringComparison.Ordinal);
            Assert.Null((await ledger.Row(first))!.DeletedAt);
            Assert.Null((await ledger.Row(second))!.DeletedAt);
            Assert.True(File.Exists(file));
            Assert.Equal(0L, await database.DataSource.ScalarAsync<long>(
                "SELECT count(*) FROM runsaga.run_audit WHERE run_id IN (@a, @b)", ("a", first), ("b", second)));
        }
        finally
        {
            await database.DataSource.ExecuteAsync($"DROP TRIGGER refuse_audit_{suffix} ON runsaga.run_audit");
        }
    }
}

public sealed class When_a_restored_run_is_archived_again(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_keep_its_file_untouched_when_the_file_still_matches()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var run = await ledger.Finished(folder: "kept", items: 5);
        ledger.Advance(8);
        await ledger.Cycle();
        var path = (await ledger.Row(run))!.ArchivePath!;
        var bytes = await File.ReadAllBytesAsync(ledger.FullPath(path));
        await ledger.Artifacts.RestoreAsync(run, CancellationToken.None);

        ledger.Advance(1);
        Assert.Equal(1, (await ledger.Cycle()).RunsArchived);

        Assert.Equal(path, (await ledger.Row(run))!.ArchivePath);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(ledger.FullPath(path)));
        Assert.Equal(0, await ledger.StagedItems(run));
    }

    [Fact]
    public async Task Should_write_a_new_file_under_a_new_name_when_the_old_one_was_damaged()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var run = await ledger.Finished(folder: "damaged", items: 5);
        var before = await ledger.Staging(run);
        ledger.Advance(8);
        await ledger.Cycle();
        var old = (await ledger.Row(run))!.ArchivePath!;
        await ledger.Artifacts.RestoreAsync(run, CancellationToken.None);
        await File.AppendAllTextAsync(ledger.FullPath(old), "damage");

        ledger.Advance(1);
        Assert.Equal(1, (await ledger.Cycle()).RunsArchived);

        var renewed = (await ledger.Row(run))!.ArchivePath!;
        Assert.Equal($"2026/03/damaged-{run:N}.tar.gz", renewed);
        Assert.False(File.Exists(ledger.FullPath(old)));
        await ledger.Artifacts.RestoreAsync(run, CancellationToken.None);
        Assert.Equal(before, await ledger.Staging(run));
    }
}

public sealed class When_an_archival_crashed_before_a_deletion(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_remove_the_partial_files_it_left()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var run = await ledger.Finished(items: 2);
        var folder = ledger.FullPath("2026/03");
        Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(Path.Combine(folder, $".partial-{run:N}.items.jsonl"), "{}\n");
        await File.WriteAllTextAsync(Path.Combine(folder, $".partial-{run:N}.tar.zst"), "half");

        await ledger.Artifacts.DeleteAsync(run, "cleanup test", "tester", manual: true, CancellationToken.None);

        Assert.Empty(Directory.GetFiles(folder));
    }
}
