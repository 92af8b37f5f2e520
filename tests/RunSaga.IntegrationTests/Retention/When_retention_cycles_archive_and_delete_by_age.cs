using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Retention;

/// <summary>
/// ApplyRetention cycles through the real hosts, with the Consumers restarted on ages that make runs due at once
/// (ARCHIVE_AFTER_DAYS=0, FAILED_DELETE_AFTER_DAYS=0; completed runs keep DELETE_AFTER_DAYS=30). Each test puts
/// the stack's defaults back before it ends.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_retention_cycles_archive_and_delete_by_age(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static readonly Dictionary<string, string> DueAtOnce = new()
    {
        ["ARCHIVE_AFTER_DAYS"] = "0",
        ["FAILED_DELETE_AFTER_DAYS"] = "0",
    };

    [Fact]
    public async Task Should_report_in_a_dry_run_what_the_real_cycle_then_does_and_change_nothing()
    {
        var source = NewSource("artifacts-dry");
        var (completed, failed) = await CompletedAndFailedRuns(source);
        var staging = await StagingChecksum(completed.Id, failed.RunId);
        await using var applied = await Publisher.Watch("RetentionApplied");

        await WithConsumers(DueAtOnce, async () =>
        {
            await Send("ApplyRetention", new { source, dryRun = true, requestedBy = "it" });
            bool IsDry(System.Text.Json.JsonElement m) => IsFor(m, source) && m.GetProperty("dryRun").GetBoolean();
            var dry = (await applied.WaitFor(IsDry, 1, Timeout, "dry-run RetentionApplied"))[0];

            // Delivered at least once: a repeat is the same message (its messageId), never a second dry-run cycle.
            Assert.Single(applied.MessageIds(IsDry).Distinct());

            Assert.Equal((1, 1), (dry.GetProperty("runsArchived").GetInt32(), dry.GetProperty("runsDeleted").GetInt32()));
            Assert.Equal(staging, await StagingChecksum(completed.Id, failed.RunId));
            Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.runs WHERE source = @p0 AND (archived_at IS NOT NULL OR deleted_at IS NOT NULL)", source));

            await Send("ApplyRetention", new { source, requestedBy = "it" });
            // The cycle after the seed run's completion (which archived nothing) may be announced to this watcher too.
            bool IsReal(System.Text.Json.JsonElement m) => IsFor(m, source) && !m.GetProperty("dryRun").GetBoolean()
                && m.GetProperty("runsArchived").GetInt32() + m.GetProperty("runsDeleted").GetInt32() > 0;
            var real = (await applied.WaitFor(IsReal, 1, Timeout, "RetentionApplied"))[0];
            Assert.Single(applied.MessageIds(IsReal).Distinct());

            Assert.Equal((1, 1), (real.GetProperty("runsArchived").GetInt32(), real.GetProperty("runsDeleted").GetInt32()));
            Assert.Equal(1, await Db.Count("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND archived_at IS NOT NULL", completed.Id));
            Assert.Equal(1, await Db.Count("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND deleted_at IS NOT NULL", failed.RunId));
            Assert.Equal(1, await Db.Count("SELECT count(*) FROM runsaga.run_audit WHERE run_id = @p0 AND action = 'deleted' AND requested_by = 'retention'", failed.RunId));
        });
    }

    [Fact]
    public async Task Should_remove_the_row_with_the_hard_strategy_and_keep_the_audit_row()
    {
        var source = NewSource("artifacts-hard");
        var (_, failed) = await CompletedAndFailedRuns(source);

        await WithConsumers(new(DueAtOnce) { ["DELETION_STRATEGY"] = "hard" }, async () =>
        {
            await Send("ApplyRetention", new { source, requestedBy = "it" });
            await Db.WaitForRow("SELECT count(*) FROM runsaga.run_audit WHERE run_id = @p0 AND action = 'hard-deleted'", failed.RunId);

            Assert.Null(await Db.FindRun(failed.RunId));
            Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.staged_items WHERE run_id = @p0", failed.RunId));
            Assert.Equal(1, await Db.Count(
                "SELECT count(*) FROM runsaga.run_audit WHERE run_id = @p0 AND source = @p1 AND status = 'Failed' AND error_code = 'UPSTREAM_UNAVAILABLE'",
                failed.RunId, source));
        });
    }

    [Fact]
    public async Task Should_record_a_cycle_that_cannot_write_the_archive_as_failed_and_delete_nothing()
    {
        var source = NewSource("artifacts-unwritable");
        var (completed, failed) = await CompletedAndFailedRuns(source);
        var staging = await StagingChecksum(completed.Id, failed.RunId);
        var projects = await Db.ProjectsChecksum(source);
        var blocker = Path.Combine(Path.GetTempPath(), $"runsaga-it-not-a-folder-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(blocker, "a file where the archive folder should be");
        await using var failures = await Publisher.Watch("RetentionFailed");

        try
        {
            await WithConsumers(new(DueAtOnce) { ["ARCHIVE_BASE_PATH"] = Path.Combine(blocker, "archive") }, async () =>
            {
                await Send("ApplyRetention", new { source, requestedBy = "it" });

                await failures.WaitFor(m => IsFor(m, source), 1, Timeout, "RetentionFailed");
                Assert.Equal(1, await Db.Count(
                    "SELECT count(*) FROM runsaga.retention_cycles WHERE source = @p0 AND outcome = 'failed' AND error IS NOT NULL AND runs_archived = 0 AND runs_deleted = 0",
                    source));
                Assert.Equal(staging, await StagingChecksum(completed.Id, failed.RunId));
                Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.runs WHERE source = @p0 AND (archived_at IS NOT NULL OR deleted_at IS NOT NULL)", source));
                Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.run_audit WHERE source = @p0", source));
                Assert.Equal(projects, await Db.ProjectsChecksum(source));
            });
        }
        finally
        {
            File.Delete(blocker);
        }
    }

    /// <summary>A completed run of 12 items, then a failed run (the failure is what makes it newest).</summary>
    private async Task<(Data.RunRow Completed, ScrapeRun Failed)> CompletedAndFailedRuns(string source)
    {
        var completed = await Seed(source, Items.Numbered(12));
        var failed = new ScrapeRun(source);
        await Publisher.Publish([failed.Requested(), failed.Started(), failed.Scraped(Items.Numbered(3, "lost").InBatches(3)[0])]);

        // Staged before the failure: staging refuses a batch whose run has already failed, and the run must leave artifacts.
        await Db.WaitForRow("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", failed.RunId);
        await Publisher.Publish([failed.Failed("UPSTREAM_UNAVAILABLE", "503")]);
        await ExpectFailed(failed.RunId, "UPSTREAM_UNAVAILABLE");
        return (completed, failed);
    }

    private async Task WithConsumers(Dictionary<string, string> overrides, Func<Task> body)
    {
        await Stack.RestartConsumers(overrides);
        try
        {
            await body();
        }
        finally
        {
            await Stack.RestartConsumers();
        }
    }

    private static bool IsFor(System.Text.Json.JsonElement message, string source) =>
        message.TryGetProperty("source", out var value) && value.ValueKind == System.Text.Json.JsonValueKind.String && value.GetString() == source;

    private async Task<string> StagingChecksum(params Guid[] runs) =>
        (await Db.Query("""
            SELECT count(*) || ':' || coalesce(md5(string_agg(row_to_json(s)::text, E'\n' ORDER BY s.run_id, s.key COLLATE "C")), '')
            FROM runsaga.staged_items s WHERE s.run_id = ANY(@p0)
            """, r => r.GetString(0), runs)).Single();
}

/// <summary>Retention's knobs are checked when the Consumers start: a bad value stops the host with a message naming it.</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_retention_knob_is_bad(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Theory]
    [InlineData("ARCHIVE_COMPRESSION", "lz4", "ARCHIVE_COMPRESSION must be gzip, brotli or zstd")]
    [InlineData("ARCHIVE_COMPRESSION", "bz2", "ARCHIVE_COMPRESSION must be gzip, brotli or zstd (bz2 and xz are not offered")]
    [InlineData("ARCHIVE_COMPRESSION", "xz", "ARCHIVE_COMPRESSION must be gzip, brotli or zstd (bz2 and xz are not offered")]
    [InlineData("DELETION_STRATEGY", "shred", "DELETION_STRATEGY must be soft or hard")]
    [InlineData("ARCHIVE_AFTER_DAYS", "-1", "ARCHIVE_AFTER_DAYS must be a number of days")]
    [InlineData("KEEP_RUNS", "0", "KEEP_RUNS must be a whole number")]
    public async Task Should_refuse_to_start_and_name_the_knob(string knob, string value, string message)
    {
        var mark = Stack.Logs.Mark();
        try
        {
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => Stack.RestartConsumers(new Dictionary<string, string> { [knob] = value }));

            Assert.Contains("exited", refused.Message, StringComparison.Ordinal);
            Assert.True(Stack.Logs.Since(mark, 400).Any(line => line.Contains(message, StringComparison.Ordinal)),
                $"no line says '{message}':{Environment.NewLine}{string.Join(Environment.NewLine, Stack.Logs.Since(mark, 40))}");
        }
        finally
        {
            await Stack.RestartConsumers();
        }
    }
}
