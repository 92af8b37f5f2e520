using System.Text.Json;
using RunSaga.Consumers.Staging;
using RunSaga.Consumers.Tests.Infrastructure;
using static RunSaga.Consumers.Tests.Infrastructure.Scrape;

namespace RunSaga.Consumers.Tests.Staging;

public sealed class When_a_batch_is_redelivered(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly BatchStager stager = new(database.DataSource);

    [Fact]
    public async Task Should_stage_it_once()
    {
        var runId = Guid.NewGuid();
        var batch = Batch(runId, "b1", Item("a"), Item("b"), Item("c"));

        var first = await stager.StageAsync(batch, CancellationToken.None);
        var again = await stager.StageAsync(batch, CancellationToken.None);

        Assert.False(first.AlreadyStaged);
        Assert.Equal(3, first.Staged);
        Assert.True(again.AlreadyStaged);
        Assert.Equal(0, again.Staged);
        Assert.Equal(1L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @run", ("run", runId)));
        Assert.Equal(3L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.staged_items WHERE run_id = @run", ("run", runId)));
        Assert.Equal(3, await database.DataSource.ScalarAsync<int>(
            "SELECT staged_count FROM runsaga.staged_batches WHERE run_id = @run", ("run", runId)));
    }

    [Fact]
    public async Task Should_not_let_a_changed_copy_overwrite_the_staged_items()
    {
        var runId = Guid.NewGuid();
        await stager.StageAsync(Batch(runId, "b1", Item("a", title: "first")), CancellationToken.None);

        await stager.StageAsync(Batch(runId, "b1", Item("a", title: "second"), Item("z")), CancellationToken.None);

        Assert.Equal("first", await database.DataSource.ScalarAsync<string>(
            "SELECT title FROM runsaga.staged_items WHERE run_id = @run AND key = 'a'", ("run", runId)));
        Assert.Equal(1L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.staged_items WHERE run_id = @run", ("run", runId)));
    }

    [Fact]
    public async Task Should_run_the_flush_check_again_so_a_lost_verdict_is_recovered()
    {
        var runId = Guid.NewGuid();
        var batch = Batch(runId, "b1", Item("a"), Item("b"));
        await stager.StageAsync(batch, CancellationToken.None);
        await new RunSaga.Consumers.Flush.FlushRequests(database.DataSource).RequestAsync(Announce(runId, 2, 1), CancellationToken.None);

        var redelivered = await stager.StageAsync(batch, CancellationToken.None);

        Assert.True(redelivered.AlreadyStaged);
        Assert.NotNull(redelivered.Flush?.Verdict?.Confirmed);
    }
}

public sealed class When_a_batch_repeats_a_key(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly BatchStager stager = new(database.DataSource);

    [Fact]
    public async Task Should_keep_the_last_occurrence_and_count_the_earlier_ones_as_duplicates()
    {
        var runId = Guid.NewGuid();

        var result = await stager.StageAsync(
            Batch(runId, "b1", Item("a", title: "one"), Item("b"), Item("a", title: "two"), Item("a", title: "three")),
            CancellationToken.None);

        Assert.Equal(4, result.ItemCount);
        Assert.Equal(2, result.Staged);
        Assert.Equal(2, result.Duplicates);
        Assert.Equal("three", await database.DataSource.ScalarAsync<string>(
            "SELECT title FROM runsaga.staged_items WHERE run_id = @run AND key = 'a'", ("run", runId)));
        Assert.Equal(2, await database.DataSource.ScalarAsync<int>(
            "SELECT duplicate_count FROM runsaga.staged_batches WHERE run_id = @run", ("run", runId)));
        Assert.Equal(4, await database.DataSource.ScalarAsync<int>(
            "SELECT item_count FROM runsaga.staged_batches WHERE run_id = @run", ("run", runId)));
    }
}

public sealed class When_a_later_batch_repeats_a_key_of_an_earlier_one(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly BatchStager stager = new(database.DataSource);

    [Fact]
    public async Task Should_keep_the_later_copy_and_count_it_as_a_duplicate()
    {
        var runId = Guid.NewGuid();
        await stager.StageAsync(Batch(runId, "b1", Item("a", title: "old"), Item("b")), CancellationToken.None);

        var second = await stager.StageAsync(Batch(runId, "b2", Item("a", title: "new"), Item("c")), CancellationToken.None);

        Assert.Equal(1, second.Staged);
        Assert.Equal(1, second.Duplicates);
        Assert.Equal("new", await database.DataSource.ScalarAsync<string>(
            "SELECT title FROM runsaga.staged_items WHERE run_id = @run AND key = 'a'", ("run", runId)));
        Assert.Equal("b2", await database.DataSource.ScalarAsync<string>(
            "SELECT batch_id FROM runsaga.staged_items WHERE run_id = @run AND key = 'a'", ("run", runId)));
        // The sum of staged counts is the number of distinct keys of the run.
        Assert.Equal(3L, await database.DataSource.ScalarAsync<long>(
            "SELECT sum(staged_count) FROM runsaga.staged_batches WHERE run_id = @run", ("run", runId)));
        Assert.Equal(3L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.staged_items WHERE run_id = @run", ("run", runId)));
    }
}

public sealed class When_a_batch_holds_invalid_items(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly BatchStager stager = new(database.DataSource);

    [Fact]
    public async Task Should_stage_the_rest_and_list_every_rejection_with_its_reason()
    {
        var runId = Guid.NewGuid();
        var longKey = new string('k', 1025);
        var batch = new Contracts.ItemsScraped
        {
            RunId = runId,
            BatchId = "b1",
            Items =
            [
                Item("good", data: """{"price": 1}"""),
                Item(null),
                Item("   "),
                Item(longKey),
                Item("array", data: "[1, 2]"),
                Item("string", data: "\"text\""),
                Item("nul-title", title: "a\0b"),
                Item("nul-data", data: """{"nested": {"x": "a\u0000b"}}"""),
                Item("nul\0key"),
                Item("also-good", data: "null"),
                null!,
            ],
        };

        var result = await stager.StageAsync(batch, CancellationToken.None);

        Assert.Equal(11, result.ItemCount);
        Assert.Equal(2, result.Staged);
        Assert.Equal(9, result.Rejections.Count);
        Assert.Equal(
            [
                BatchValidation.MissingKey,
                BatchValidation.MissingKey,
                BatchValidation.KeyTooLong,
                BatchValidation.DataNotObject,
                BatchValidation.DataNotObject,
                BatchValidation.ContainsNul,
                BatchValidation.ContainsNul,
                BatchValidation.ContainsNul,
                BatchValidation.NullItem,
            ],
            result.Rejections.Select(r => r.Reason));

        var stored = await database.DataSource.ScalarAsync<string>(
            "SELECT rejections::text FROM runsaga.staged_batches WHERE run_id = @run", ("run", runId));
        using var json = JsonDocument.Parse(stored);
        var rows = json.RootElement.EnumerateArray().ToList();
        Assert.Equal(9, rows.Count);
        Assert.Equal(JsonValueKind.Null, rows[0].GetProperty("key").ValueKind);
        Assert.Equal("missing key", rows[0].GetProperty("reason").GetString());
        Assert.Equal(new string('k', 200), rows[2].GetProperty("key").GetString());
        Assert.Equal("key longer than 1024 characters", rows[2].GetProperty("reason").GetString());
        Assert.Equal("array", rows[3].GetProperty("key").GetString());
        Assert.Equal("nul\u2400key", rows[7].GetProperty("key").GetString());
        Assert.Equal(9, await database.DataSource.ScalarAsync<int>(
            "SELECT rejected_count FROM runsaga.staged_batches WHERE run_id = @run", ("run", runId)));
        Assert.Equal(2L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.staged_items WHERE run_id = @run", ("run", runId)));
    }

    [Fact]
    public async Task Should_reject_what_PostgreSQL_could_not_index_or_store_instead_of_failing_the_batch()
    {
        var runId = Guid.NewGuid();
        // 1,024 characters of CJK text: within the character limit, but 3,072 bytes for the key's btree indexes.
        var cjkKey = string.Concat(Enumerable.Range(0, 1024).Select(i => (char)(0x4E00 + (i * 7919 % 20000))));

        var result = await stager.StageAsync(
            Batch(runId, "b1",
                Item(cjkKey),
                Item("surrogate", data: """{"x": "\ud800"}"""),
                Item(string.Concat(Enumerable.Repeat("\u00e9", 1024)))),
            CancellationToken.None);

        Assert.Equal(
            [BatchValidation.KeyTooManyBytes, BatchValidation.InvalidUnicode],
            result.Rejections.Select(r => r.Reason));
        Assert.Equal(1, result.Staged);
    }

    /// <summary>
    /// Found by the fault campaign (docs/reliability.md, finding 4): an item whose data nested deeper than 64 levels made
    /// its whole batch unreadable, so the batch went to the error queue and its run failed FLUSH_INCOMPLETE.
    /// </summary>
    [Fact]
    public async Task Should_reject_data_nested_deeper_than_64_levels_and_stage_the_rest()
    {
        static string Nested(int depth) => string.Concat(Enumerable.Repeat("{\"d\":", depth - 1)) + "{}" + new string('}', depth - 1);
        var runId = Guid.NewGuid();

        var result = await stager.StageAsync(
            Batch(runId, "b1", Item("deep-64", data: Nested(64)), Item("deep-65", data: Nested(65)), Item("deep-200", data: """{"a": [""" + Nested(199) + "]}")),
            CancellationToken.None);

        Assert.Equal([("deep-65", BatchValidation.DataTooDeep), ("deep-200", BatchValidation.DataTooDeep)], result.Rejections.Select(r => (r.Key, r.Reason)));
        Assert.Equal(1, result.Staged);
    }

    [Fact]
    public async Task Should_stage_an_empty_batch_with_nothing_in_it()
    {
        var runId = Guid.NewGuid();

        var result = await stager.StageAsync(Batch(runId, "empty"), CancellationToken.None);

        Assert.False(result.AlreadyStaged);
        Assert.Equal(0, result.ItemCount);
        Assert.Equal(1L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @run", ("run", runId)));
    }
}

public sealed class When_items_differ_only_in_json_layout(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly BatchStager stager = new(database.DataSource);

    [Fact]
    public async Task Should_give_them_the_same_content_hash()
    {
        var runId = Guid.NewGuid();
        await stager.StageAsync(
            Batch(runId, "b1",
                Item("a", title: "t", url: "u", data: """{"x": 1, "y": [1, 2]}"""),
                Item("b", title: "t", url: "u", data: """{ "y" : [1,2],   "x":1 }"""),
                Item("c", title: "t", url: "u", data: """{"x": 2, "y": [1, 2]}"""),
                Item("d", title: "t", url: "u", data: """{"x": 1, "y": [1, 2]}""", error: "timeout")),
            CancellationToken.None);

        async Task<string> Hash(string key) => await database.DataSource.ScalarAsync<string>(
            "SELECT content_hash FROM runsaga.staged_items WHERE run_id = @run AND key = @key", ("run", runId), ("key", key));

        Assert.Equal(await Hash("a"), await Hash("b"));
        Assert.NotEqual(await Hash("a"), await Hash("c"));
        // The error is not content.
        Assert.Equal(await Hash("a"), await Hash("d"));
    }
}
