using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Scaling;

/// <summary>
/// Two Consumers instances with one ARCHIVE_BASE_PATH (the shared volume of docs/deployment.md): a run archived by
/// one instance is restored by the other while the first is stopped, then deleted by the first while the other is
/// stopped. Each step must find the file the other instance wrote; which instance handled it is read from the logs.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_two_consumers_share_the_archive_folder(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_restore_and_delete_on_one_instance_the_archive_the_other_wrote()
    {
        await Stack.Scale(1, 2);
        try
        {
            var run = await Seed(NewSource("shared-archive"), Items.Numbered(40));
            var staged = await Staging(run.Id);

            var mark = Stack.Logs.Mark();
            await Send("ArchiveRun", new { runId = run.Id, requestedBy = "it" });
            await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND archived_at IS NOT NULL", run.Id);
            var path = (await Db.Query("SELECT archive_path FROM runsaga.runs WHERE id = @p0", r => r.GetString(0), run.Id)).Single();
            var archiver = await InstanceThatLogged(mark, run.Id, "Run archived to");
            var other = 1 - archiver;

            // Only the other instance runs: it restores from the file the archiver wrote. The archiver must have acked its
            // ArchiveRun first: killed before that, the command is delivered again to the other instance, which then
            // archives the run again after restoring it (a stale command, CI saw it once).
            await CommandsSettled();
            await Stack.StopConsumersInstance(archiver);
            mark = Stack.Logs.Mark();
            await Send("RestoreRun", new { runId = run.Id, requestedBy = "it" });
            await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND restored_at IS NOT NULL", run.Id);
            Assert.Equal(other, await InstanceThatLogged(mark, run.Id, "Run restored from"));
            Assert.Equal(staged, await Staging(run.Id));

            // Only the archiver runs again: it deletes the run, and its archive goes to the shared trash.
            await CommandsSettled();
            await Stack.RestartConsumersInstance(archiver);
            await Stack.StopConsumersInstance(other);
            mark = Stack.Logs.Mark();
            await Send("DeleteRun", new { runId = run.Id, reason = "shared folder", requestedBy = "it-operator" });
            await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND deleted_at IS NOT NULL", run.Id);
            Assert.Equal(archiver, await InstanceThatLogged(mark, run.Id, "Run artifacts deleted"));
            Assert.False(File.Exists(Path.Combine(Stack.ArchiveDirectory, path)), $"{path} left under {Stack.ArchiveDirectory}");
            Assert.True(File.Exists(Path.Combine(Stack.ArchiveDirectory, ".trash", run.Id.ToString("N"), path)), "the archive is in the trash");
            Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.staged_items WHERE run_id = @p0", run.Id));
        }
        finally
        {
            await Stack.Scale(1, 1);
        }
    }

    /// <summary>
    /// Until <c>runsaga.retention</c> (where ArchiveRun, RestoreRun and DeleteRun wait) holds no message, delivered or not,
    /// as the queue itself counts it now (<c>rabbitmqctl list_queues</c>; the management API's figures lag by seconds).
    /// </summary>
    private Task CommandsSettled() => Eventually(async () =>
        {
            var listing = await Shell.Run("rabbitmqctl", "list_queues", "-q", "--no-table-headers", "-p", Stack.VirtualHost,
                "name", "messages_ready", "messages_unacknowledged");
            return listing.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(line => line.Split('\t'))
                .Any(columns => columns is ["runsaga.retention", "0", "0"]);
        },
        "runsaga.retention holds no command, delivered or not", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100));

    /// <summary>0 for the first Consumers instance (<c>[consumers#N]</c>), 1 for the second (<c>[consumers.2#N]</c>).</summary>
    private async Task<int> InstanceThatLogged(long mark, Guid runId, string text)
    {
        List<int> instances = [];
        await Eventually(() =>
        {
            instances = [.. Stack.Logs.Since(mark, int.MaxValue)
                .Where(l => l.Contains($"run={runId}", StringComparison.Ordinal) && l.Contains(text, StringComparison.Ordinal))
                .Select(l => l.StartsWith("[consumers.2#", StringComparison.Ordinal) ? 1 : l.StartsWith("[consumers#", StringComparison.Ordinal) ? 0 : -1)
                .Distinct()];
            return Task.FromResult(instances.Count > 0);
        }, $"a Consumers instance logs \"{text}\" for run {runId}");
        return Assert.Single(instances);
    }
}
