using Microsoft.Extensions.Options;
using RunSaga.Consumers.Flush;
using RunSaga.Consumers.Staging;
using RunSaga.Consumers.Tests.Infrastructure;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using static RunSaga.Consumers.Tests.Infrastructure.Scrape;

namespace RunSaga.Consumers.Tests.History;

/// <summary>
/// A run's history stays small whatever a run or a publisher does: batches that stage normally write no line each, a
/// flush verdict reached again is not written again, and past 200 lines only steps that move the saga to another state
/// are added.
/// </summary>
public sealed class When_a_run_s_history_is_written(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    [Fact]
    public async Task Should_write_no_line_per_batch_of_a_run_with_a_thousand_batches()
    {
        var runId = Guid.NewGuid();
        var stager = new BatchStager(database.DataSource);
        for (var i = 0; i < 1000; i++)
        {
            await stager.StageAsync(Batch(runId, $"b{i}", [$"k{i}"]), CancellationToken.None);
        }

        var flush = new FlushRequests(database.DataSource);
        Assert.NotNull((await flush.RequestAsync(Announce(runId, 1000, 1000), CancellationToken.None)).Status.Verdict?.Confirmed);
        await stager.StageAsync(Batch(runId, "b7", ["k7"]), CancellationToken.None);
        await flush.RequestAsync(Announce(runId, 1000, 1000), CancellationToken.None);

        // The flush request twice, the verdict once, the batch that came again once; nothing for the thousand batches.
        var lines = await Lines(runId);
        Assert.Equal(["flush FlushRun changed", "flush FlushVerdict changed", "staging ItemsScraped duplicate", "flush FlushRun unchanged"], lines);
    }

    [Fact]
    public async Task Should_keep_only_state_changes_past_two_hundred_lines()
    {
        var runId = Guid.NewGuid();
        await using var connection = await database.DataSource.OpenConnectionAsync();
        for (var i = 0; i < 300; i++)
        {
            await RunHistory.AppendAsync(connection, null,
                new RunHistoryEntry(runId, "saga", "RunRequested", "unchanged", "a repeated request", Guid.NewGuid(), null, "Running", "Running"),
                prepare: true, CancellationToken.None);
        }

        Assert.Equal(RunHistory.RowsBeforeOnlyTransitions, (await Lines(runId)).Count);
        await RunHistory.AppendAsync(connection, null,
            new RunHistoryEntry(runId, "saga", "ScrapeCompleted", "changed", null, Guid.NewGuid(), null, "Running", "Flushing"), prepare: true, CancellationToken.None);
        Assert.Equal("saga ScrapeCompleted changed", (await Lines(runId))[^1]);
    }

    [Fact]
    public async Task Should_mark_a_message_recorded_before_as_a_duplicate_and_write_nothing_when_off()
    {
        var runId = Guid.NewGuid();
        var messageId = Guid.NewGuid();
        await using var connection = await database.DataSource.OpenConnectionAsync();
        foreach (var _ in new[] { 1, 2 })
        {
            await RunHistory.AppendAsync(connection, null,
                new RunHistoryEntry(runId, "saga", "ScrapeCompleted", "ignored", null, messageId, null, "Flushing", "Flushing"), prepare: false, CancellationToken.None);
        }

        Assert.Equal(["saga ScrapeCompleted ignored", "saga ScrapeCompleted duplicate"], await Lines(runId));

        var quiet = Guid.NewGuid();
        var off = Options.Create(new RunSagaOptions { RunHistory = false });
        var stager = new BatchStager(database.DataSource, off);
        await stager.StageAsync(Batch(quiet, "b1", ["a"]), CancellationToken.None);
        await stager.StageAsync(Batch(quiet, "b1", ["a"]), CancellationToken.None);
        await new FlushRequests(database.DataSource, off).RequestAsync(Announce(quiet, 1, 1), CancellationToken.None);
        Assert.Empty(await Lines(quiet));
    }

    private async Task<List<string>> Lines(Guid runId)
    {
        var lines = new List<string>();
        await using var command = database.DataSource.CreateCommand("SELECT actor || ' ' || event || ' ' || outcome FROM runsaga.run_events WHERE run_id = $1 ORDER BY id");
        command.Parameters.AddWithValue(runId);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            lines.Add(reader.GetString(0));
        }

        return lines;
    }
}
