using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Crashes;

/// <summary>
/// A completed run of 30,000 items is archived on request; while the archive is being written (its partial
/// files are on disk) the Consumers process is killed with SIGKILL. The run must keep either its staging rows
/// or a verified archive — never neither — and after a restart the same request archives it, and a restore
/// gives back exactly the rows it had.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_the_consumers_are_killed_mid_archival(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private const int ItemCount = 30_000;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Should_lose_neither_the_rows_nor_the_file()
    {
        var source = NewSource("sigkill-archive");
        var run = new ScrapeRun(source);
        await CompleteRun(run, Items.Numbered(ItemCount).InBatches(1_000));
        var before = await StagingChecksum(run.RunId);
        var partial = $".partial-{run.RunId:N}";

        try
        {
            await Send("ArchiveRun", new { runId = run.RunId, requestedBy = "it" });
            await Eventually(
                () => Task.FromResult(Directory.Exists(Stack.ArchiveDirectory)
                    && Directory.EnumerateFiles(Stack.ArchiveDirectory, partial + "*", SearchOption.AllDirectories).Any()),
                "the archive's partial files appear", Timeout, TimeSpan.FromMilliseconds(5));

            Stack.KillConsumers();

            var archived = await Db.Count("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND archived_at IS NOT NULL", run.RunId);
            if (archived == 0)
            {
                // Killed before the commit: every staging row is still there.
                Assert.Equal(before, await StagingChecksum(run.RunId));
            }
            else
            {
                // Killed after the commit (the write was faster than the poll): the file it recorded is complete.
                Output.WriteLine("the archival committed before the kill");
                Assert.True(File.Exists(await ArchiveFile(run.RunId)));
            }

            await Stack.StartConsumers();
        }
        finally
        {
            if (!Stack.ConsumersAreRunning)
            {
                await Stack.StartConsumers();
            }
        }

        await Send("ArchiveRun", new { runId = run.RunId, requestedBy = "it" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND archived_at IS NOT NULL", run.RunId);
        Assert.True(File.Exists(await ArchiveFile(run.RunId)));
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.staged_items WHERE run_id = @p0", run.RunId));
        Assert.Empty(Directory.EnumerateFiles(Stack.ArchiveDirectory, partial + "*", SearchOption.AllDirectories));

        await Send("RestoreRun", new { runId = run.RunId, requestedBy = "it" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND restored_at IS NOT NULL", run.RunId);
        Assert.Equal(before, await StagingChecksum(run.RunId));
    }

    private async Task<string> ArchiveFile(Guid runId) =>
        Path.Combine(Stack.ArchiveDirectory, (await Db.Query("SELECT archive_path FROM runsaga.runs WHERE id = @p0", r => r.GetString(0), runId)).Single());

    /// <summary>Row count and MD5 of every staged item and batch of the run as PostgreSQL renders them.</summary>
    private async Task<string> StagingChecksum(Guid runId) =>
        (await Db.Query("""
            SELECT (SELECT count(*) || ':' || coalesce(md5(string_agg(row_to_json(s)::text, E'\n' ORDER BY s.key COLLATE "C")), '')
                    FROM runsaga.staged_items s WHERE s.run_id = @p0)
                || '/' ||
                   (SELECT count(*) || ':' || coalesce(md5(string_agg(row_to_json(b)::text, E'\n' ORDER BY b.batch_id COLLATE "C")), '')
                    FROM runsaga.staged_batches b WHERE b.run_id = @p0)
            """, r => r.GetString(0), runId)).Single();
}
