using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Retention;

/// <summary>
/// The operator's run commands through the real hosts: PinRun, ArchiveRun, RestoreRun, DeleteRun, published as
/// plain messages on RabbitMQ. (Archival and deletion by age, with a clock the test moves, are in
/// RunSaga.Consumers.Tests; the hosts here run on the real clock with the default ages.)
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_operators_archive_restore_and_delete_runs(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Should_archive_restore_byte_for_byte_and_delete_with_an_audit_row_and_never_touch_a_pinned_run()
    {
        var source = NewSource("artifacts");
        var run = await Seed(source, Items.Numbered(50));
        var staged = await Staging(run.Id);
        Assert.Contains("item-00050", staged, StringComparison.Ordinal);
        await using var failures = await Publisher.Watch("RetentionFailed");

        // Pinned: neither DeleteRun nor ArchiveRun touches it.
        await Send("PinRun", new { runId = run.Id, until = DateTime.UtcNow.AddDays(1), requestedBy = "it" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND pinned_until > now()", run.Id);
        await Send("DeleteRun", new { runId = run.Id, reason = "test", requestedBy = "it" });
        await failures.WaitFor(m => MessageWatcher.GuidOf(m, "runId") == run.Id && m.GetProperty("reason").GetString()!.Contains("pinned"), 1, Timeout, "DeleteRun refused");
        Assert.Equal(staged, await Staging(run.Id));
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.run_audit WHERE run_id = @p0", run.Id));

        // Unpinned and archived on request: a verified file, staging emptied.
        await Send("PinRun", new { runId = run.Id, until = (DateTime?)null, requestedBy = "it" });
        await Send("ArchiveRun", new { runId = run.Id, requestedBy = "it" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND archived_at IS NOT NULL", run.Id);
        var path = (await Db.Query("SELECT archive_path FROM runsaga.runs WHERE id = @p0", r => r.GetString(0), run.Id)).Single();
        Assert.True(File.Exists(Path.Combine(Stack.ArchiveDirectory, path)), $"{path} under {Stack.ArchiveDirectory}");
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.staged_items WHERE run_id = @p0", run.Id));

        // Restored: the same rows, byte for byte.
        await Send("RestoreRun", new { runId = run.Id, requestedBy = "it" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND restored_at IS NOT NULL", run.Id);
        Assert.Equal(staged, await Staging(run.Id));

        // Deleted on request: file and staging gone, the row kept (soft, the default), who and why audited.
        await Send("DeleteRun", new { runId = run.Id, reason = "no longer needed", requestedBy = "it-operator" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND deleted_at IS NOT NULL", run.Id);
        Assert.False(File.Exists(Path.Combine(Stack.ArchiveDirectory, path)));
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.staged_items WHERE run_id = @p0", run.Id));
        // Who the command says asked, and who RabbitMQ vouches published it (the validated user_id).
        Assert.Equal(1, await Db.Count(
            "SELECT count(*) FROM runsaga.run_audit WHERE run_id = @p0 AND action = 'deleted' AND reason = 'no longer needed' AND requested_by = 'it-operator' AND published_by = @p1 AND staged_items = 50",
            run.Id, Stack.BrokerUsers.Orchestrator.Name));
        Assert.Equal(50, await Db.Count("SELECT count(*) FROM runsaga.projects WHERE source = @p0", source));
    }

    [Fact]
    public async Task Should_undelete_a_soft_deleted_run_over_http_while_its_archive_is_in_the_trash()
    {
        var source = NewSource("undelete");
        var run = await Seed(source, Items.Numbered(20));
        var staged = await Staging(run.Id);
        await Send("ArchiveRun", new { runId = run.Id, requestedBy = "it" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND archived_at IS NOT NULL", run.Id);
        var path = (await Db.Query("SELECT archive_path FROM runsaga.runs WHERE id = @p0", r => r.GetString(0), run.Id)).Single();
        await Send("DeleteRun", new { runId = run.Id, reason = "by mistake", requestedBy = "it-operator" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND deleted_at IS NOT NULL", run.Id);
        await Eventually(() => Task.FromResult(File.Exists(Path.Combine(Stack.ArchiveDirectory, ".trash", run.Id.ToString("N"), path))), "the archive moved to the trash");

        using var operatorKey = Stack.Api("operator");
        using var forbidden = await operatorKey.PostAsync($"runs/{run.Id}/undelete", null);
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, forbidden.StatusCode);
        using var admin = Stack.Api("admin");
        using var answer = await admin.PostAsync($"runs/{run.Id}/undelete", null);

        Assert.Equal(System.Net.HttpStatusCode.OK, answer.StatusCode);
        Assert.True(File.Exists(Path.Combine(Stack.ArchiveDirectory, path)));
        Assert.Equal(1, await Db.Count(
            "SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND deleted_at IS NULL AND archive_path = @p1", run.Id, path));
        Assert.Equal(1, await Db.Count("SELECT count(*) FROM runsaga.run_audit WHERE run_id = @p0 AND action = 'undeleted'", run.Id));
        await Send("RestoreRun", new { runId = run.Id, requestedBy = "it" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND restored_at IS NOT NULL", run.Id);
        Assert.Equal(staged, await Staging(run.Id));

        // A run deleted before it was archived cannot come back, and the answer says why.
        var never = await Seed(source, Items.Numbered(20));
        await Send("DeleteRun", new { runId = never.Id, reason = "test", requestedBy = "it-operator" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND deleted_at IS NOT NULL", never.Id);
        using var refused = await admin.PostAsync($"runs/{never.Id}/undelete", null);
        Assert.Equal(System.Net.HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains("before it was ever archived", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_not_let_an_archive_command_sent_before_a_restore_undo_it()
    {
        var source = NewSource("artifacts-stale");
        var run = await Seed(source, Items.Numbered(20));
        var staged = await Staging(run.Id);
        var archiveSentAt = DateTime.UtcNow;
        await Send("ArchiveRun", new { runId = run.Id, requestedBy = "it" }, archiveSentAt);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND archived_at IS NOT NULL", run.Id);
        await Send("RestoreRun", new { runId = run.Id, requestedBy = "it" }, DateTime.UtcNow);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND restored_at IS NOT NULL", run.Id);
        await using var failures = await Publisher.Watch("RetentionFailed");

        // The archive command once more, as a redelivery (its consumer killed before the ack) or a late copy brings it:
        // sent before the restore. It is refused, and the restored rows stay.
        await Send("ArchiveRun", new { runId = run.Id, requestedBy = "it" }, archiveSentAt);

        await failures.WaitFor(
            m => MessageWatcher.GuidOf(m, "runId") == run.Id && m.GetProperty("reason").GetString()!.Contains("before the run was restored"),
            1, Timeout, "the stale ArchiveRun refused");
        Assert.Equal(1, await Db.Count("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND restored_at IS NOT NULL", run.Id));
        Assert.Equal(staged, await Staging(run.Id));

        // One sent after the restore archives the run again.
        await Send("ArchiveRun", new { runId = run.Id, requestedBy = "it" }, DateTime.UtcNow);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND restored_at IS NULL AND archived_at IS NOT NULL", run.Id);
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.staged_items WHERE run_id = @p0", run.Id));
    }

    [Fact]
    public async Task Should_refuse_to_archive_an_open_run()
    {
        var source = NewSource("artifacts-open");
        var scrape = new ScrapeRun(source);
        await Publisher.Publish([scrape.Requested(), scrape.Started(), scrape.Scraped(Items.Numbered(3).InBatches(3)[0])]);
        await Db.WaitForRun(scrape.RunId, r => r.Status == "Running", "Running", Timeout);
        await using var failures = await Publisher.Watch("RetentionFailed");

        await Send("ArchiveRun", new { runId = scrape.RunId, requestedBy = "it" });

        await failures.WaitFor(m => MessageWatcher.GuidOf(m, "runId") == scrape.RunId, 1, Timeout, "ArchiveRun refused");
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND archived_at IS NOT NULL", scrape.RunId));
    }
}
