using System.Formats.Tar;
using System.IO.Compression;
using RunSaga.Consumers.Retention;
using RunSaga.Consumers.Tests.Infrastructure;

namespace RunSaga.Consumers.Tests.Retention;

public sealed class When_a_finished_run_ages_past_archive_after_days(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_archive_it_to_a_verified_file_and_only_then_empty_its_staging()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var run = await ledger.Finished(folder: "shop-2026-03-10", items: 5);
        var staged = await ledger.Staging(run);

        ledger.Advance(6.9);
        Assert.Equal(0, (await ledger.Cycle()).RunsArchived);
        Assert.Equal(5, await ledger.StagedItems(run));

        ledger.Advance(0.2);
        var cycle = await ledger.Cycle();

        Assert.Equal(1, cycle.RunsArchived);
        var row = await ledger.Row(run);
        Assert.Equal("2026/03/shop-2026-03-10.tar.gz", row!.ArchivePath);
        Assert.Equal(ledger.Now, row.ArchivedAt);
        Assert.Equal(0, await ledger.StagedItems(run));
        Assert.Equal(0L, await database.DataSource.ScalarAsync<long>("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @run", ("run", run)));

        // The file is an ordinary tar.gz: run.json (the run's row) and items.jsonl (one line per staged item).
        var entries = ReadTarGz(ledger.FullPath(row.ArchivePath!));
        Assert.Equal(["run.json", "batches.jsonl", "items.jsonl"], entries.Keys);
        Assert.Contains(run.ToString(), entries["run.json"], StringComparison.Ordinal);
        Assert.Equal(5, entries["items.jsonl"].Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(staged.Split("\n--\n")[0] + "\n", entries["items.jsonl"]);
        Assert.Empty(Directory.GetFiles(ledger.Options.ArchiveBasePath, ".partial-*", SearchOption.AllDirectories));
    }

    [Theory]
    [InlineData("gzip", ".tar.gz")]
    [InlineData("brotli", ".tar.br")]
    [InlineData("zstd", ".tar.zst")]
    public async Task Should_give_back_the_same_rows_byte_for_byte_when_restored(string compression, string extension)
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        ledger.Options.ArchiveCompression = compression;
        var run = await ledger.Finished(items: 40);
        var before = await ledger.Staging(run);

        ledger.Advance(8);
        Assert.Equal(1, (await ledger.Cycle()).RunsArchived);
        var archived = await ledger.Row(run);
        Assert.EndsWith(extension, archived!.ArchivePath, StringComparison.Ordinal);
        Assert.Equal(0, await ledger.StagedItems(run));

        var restored = await ledger.Artifacts.RestoreAsync(run, CancellationToken.None);

        Assert.Equal((ArtifactOutcome.Restored, 40, 2), (restored.Outcome, restored.Items, restored.Batches));
        Assert.Equal(before, await ledger.Staging(run));
        Assert.Equal(ledger.Now, (await ledger.Row(run))!.RestoredAt);
    }

    [Fact]
    public async Task Should_archive_a_restored_run_again_in_the_next_cycle()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var run = await ledger.Finished(items: 4);
        var before = await ledger.Staging(run);
        ledger.Advance(8);
        await ledger.Cycle();
        await ledger.Artifacts.RestoreAsync(run, CancellationToken.None);

        ledger.Advance(1);
        var cycle = await ledger.Cycle();

        Assert.Equal(1, cycle.RunsArchived);
        var row = await ledger.Row(run);
        Assert.Null(row!.RestoredAt);
        Assert.Equal(0, await ledger.StagedItems(run));
        await ledger.Artifacts.RestoreAsync(run, CancellationToken.None);
        Assert.Equal(before, await ledger.Staging(run));
    }

    [Fact]
    public async Task Should_refuse_to_restore_an_archive_that_changed_since_it_was_written()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var run = await ledger.Finished(items: 4);
        ledger.Advance(8);
        await ledger.Cycle();
        var file = ledger.FullPath((await ledger.Row(run))!.ArchivePath!);
        await File.AppendAllTextAsync(file, "tampered");

        var refused = await Assert.ThrowsAsync<RetentionRefusedException>(() => ledger.Artifacts.RestoreAsync(run, CancellationToken.None));

        Assert.Contains("SHA-256", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, await ledger.StagedItems(run));
    }

    [Fact]
    public async Task Should_refuse_new_batches_for_an_archived_run()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var run = await ledger.Finished(items: 2);
        ledger.Advance(8);
        await ledger.Cycle();

        var late = await new RunSaga.Consumers.Staging.BatchStager(database.DataSource)
            .StageAsync(Scrape.Batch(run, "late", ["x", "y"]), CancellationToken.None);

        Assert.True(late.AlreadyStaged);
        Assert.Equal(0, await ledger.StagedItems(run));
    }

    [Fact]
    public async Task Should_take_the_month_folder_from_the_same_moment_as_the_folder_name()
    {
        // Requested on 10 March, started (the folder name's moment) on 1 April: both parts of the path say April.
        using var ledger = new ArtifactLedger(database.DataSource);
        var runId = Guid.NewGuid();
        var run = await ledger.Finished(folder: $"20260401_000500_{runId}");
        ledger.Advance(8);

        Assert.Equal(1, (await ledger.Cycle()).RunsArchived);

        Assert.Equal($"2026/04/20260401_000500_{runId}.tar.gz", (await ledger.Row(run))!.ArchivePath);
    }

    [Fact]
    public async Task Should_name_the_file_by_run_id_when_the_folder_name_is_missing_unsafe_or_taken()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var plain = await ledger.Finished(folder: null);
        var unsafeName = await ledger.Finished(folder: "../../etc/passwd");
        var first = await ledger.Finished(folder: "same-name");
        ledger.Advance(0.5);
        var second = await ledger.Finished(folder: "same-name");
        ledger.Advance(8);

        Assert.Equal(4, (await ledger.Cycle()).RunsArchived);

        Assert.Equal($"2026/03/{plain:N}.tar.gz", (await ledger.Row(plain))!.ArchivePath);
        Assert.Equal($"2026/03/{unsafeName:N}.tar.gz", (await ledger.Row(unsafeName))!.ArchivePath);
        Assert.Equal("2026/03/same-name.tar.gz", (await ledger.Row(first))!.ArchivePath);
        Assert.Equal($"2026/03/same-name-{second:N}.tar.gz", (await ledger.Row(second))!.ArchivePath);
        Assert.Equal(4, Directory.GetFiles(ledger.FullPath("2026/03")).Length);
    }

    [Fact]
    public async Task Should_archive_at_most_retention_batch_runs_per_cycle_and_say_more_are_due()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        ledger.Options.BatchRuns = 2;
        for (var i = 0; i < 3; i++)
        {
            await ledger.Finished(items: 1);
        }

        ledger.Advance(8);

        var first = await ledger.Cycle();
        var second = await ledger.Cycle();

        Assert.Equal((2, true), (first.RunsArchived, first.MoreDue));
        Assert.Equal((1, false), (second.RunsArchived, second.MoreDue));
    }

    private static Dictionary<string, string> ReadTarGz(string path)
    {
        var entries = new Dictionary<string, string>();
        using var file = File.OpenRead(path);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        while (tar.GetNextEntry() is { DataStream: { } data } entry)
        {
            using var reader = new StreamReader(data);
            entries[entry.Name] = reader.ReadToEnd();
        }

        return entries;
    }
}

public sealed class When_the_archive_folder_is_not_writable(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_record_the_cycle_as_failed_and_delete_nothing()
    {
        using var ledger = new ArtifactLedger(database.DataSource);
        var old = await ledger.Finished(items: 3);
        ledger.Advance(25);
        var due = await ledger.Finished(items: 3);
        ledger.Advance(8);
        var oldBefore = await ledger.Staging(old);
        var dueBefore = await ledger.Staging(due);

        // A file where the folder should be: not writable even for root.
        var blocker = Path.Combine(Path.GetTempPath(), $"runsaga-not-a-folder-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(blocker, "");
        ledger.Options.ArchiveBasePath = Path.Combine(blocker, "archive");
        try
        {
            var cycle = await ledger.Cycle();

            Assert.Equal((CycleOutcome.Failed, 0, 0), (cycle.Outcome, cycle.RunsArchived, cycle.RunsDeleted));
            Assert.Equal(oldBefore, await ledger.Staging(old));
            Assert.Equal(dueBefore, await ledger.Staging(due));
            Assert.Null((await ledger.Row(old))!.DeletedAt);
            Assert.Equal(
                "failed 0 0 0",
                await database.DataSource.ScalarAsync<string>(
                    "SELECT concat_ws(' ', outcome, runs_archived, runs_deleted, projects_deleted) FROM runsaga.retention_cycles WHERE id = @id",
                    ("id", cycle.CycleId)));
            Assert.NotNull(await database.DataSource.ScalarAsync<string>("SELECT error FROM runsaga.retention_cycles WHERE id = @id", ("id", cycle.CycleId)));
        }
        finally
        {
            File.Delete(blocker);
        }
    }
}
