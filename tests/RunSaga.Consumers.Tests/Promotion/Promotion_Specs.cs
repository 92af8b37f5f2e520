using RunSaga.Shared.Data;
using Microsoft.Extensions.Options;
using RunSaga.Shared.Hosting;
using Npgsql;
using RunSaga.Consumers.Promotion;
using RunSaga.Consumers.Tests.Infrastructure;
using RunSaga.Shared.Messaging;
using static RunSaga.Consumers.Tests.Infrastructure.Scrape;

namespace RunSaga.Consumers.Tests.Promotion;

public sealed class When_a_source_is_promoted_for_the_first_time(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly RunPromoter promoter = new(database.DataSource, Options.Create(new RunSagaOptions()));

    [Fact]
    public async Task Should_create_every_item_with_its_lineage()
    {
        var source = NewSource();
        var run = await Runs.StageAsync(database.DataSource,
            ("b1", [Item("a", data: """{"v": 1}"""), Item("b")]),
            ("b2", [Item("c"), Item("d", error: "boom")]));

        var result = await promoter.PromoteAsync(run, source, ProcessType.Ingestion, CancellationToken.None);

        Assert.False(result.AlreadyPromoted);
        Assert.Equal(new PromotionCounts(Inserted: 3, Updated: 0, Unchanged: 0, Errored: 1), result.Counts);

        var a = await database.DataSource.ProjectAsync(source, "a");
        Assert.NotNull(a);
        Assert.Equal("ok", a.Status);
        Assert.Equal("""{"v": 1}""", a.Data);
        Assert.Equal((run, run, run), (a.CreatedByRunId, a.LastUpdatedByRunId, a.LastConfirmedRunId));
        Assert.Equal("b1", a.BatchId);
        Assert.Equal(await Runs.StagedHashAsync(database.DataSource, run, "a"), a.ContentHash);

        var d = await database.DataSource.ProjectAsync(source, "d");
        Assert.Equal(("error", "boom", "b2", "title of d"), (d!.Status, d.Error, d.BatchId, d.Title));

        var lineage = await database.DataSource.LineageAsync(run);
        Assert.Equal(
            [("a", "b1", "created"), ("b", "b1", "created"), ("c", "b2", "created"), ("d", "b2", "errored")],
            lineage.Select(l => (l.Key, l.BatchId, l.Change)));
        Assert.Equal(a.ContentHash, lineage[0].ContentHash);
        Assert.Equal(d.ContentHash, lineage[3].ContentHash);
    }
}

public sealed class When_a_second_run_changes_some_items(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly RunPromoter promoter = new(database.DataSource, Options.Create(new RunSagaOptions()));

    [Fact]
    public async Task Should_touch_only_what_changed_and_confirm_everything_it_saw()
    {
        var source = NewSource();
        var run1 = await Runs.StageAsync(database.DataSource,
            ("r1-b1", [Item("same", data: """{"v": 1}"""), Item("changed", title: "old"), Item("breaks", title: "kept")]),
            ("r1-b2", [Item("recovers", error: "boom"), Item("absent")]));
        await promoter.PromoteAsync(run1, source, ProcessType.Ingestion, CancellationToken.None);
        var before = await database.DataSource.ProjectAsync(source, "breaks");

        var run2 = await Runs.StageAsync(database.DataSource,
            ("r2-b1", [Item("same", data: """{ "v" : 1 }"""), Item("changed", title: "new")]),
            ("r2-b2", [Item("breaks", title: "ignored", error: "timeout"), Item("recovers"), Item("new")]));
        var result = await promoter.PromoteAsync(run2, source, ProcessType.Ingestion, CancellationToken.None);

        Assert.Equal(new PromotionCounts(Inserted: 1, Updated: 2, Unchanged: 1, Errored: 1), result.Counts);

        var same = await database.DataSource.ProjectAsync(source, "same");
        Assert.Equal((run1, run1, run2, "r1-b1"), (same!.CreatedByRunId, same.LastUpdatedByRunId, same.LastConfirmedRunId, same.BatchId));

        var changed = await database.DataSource.ProjectAsync(source, "changed");
        Assert.Equal(("new", run1, run2, run2, "r2-b1"),
            (changed!.Title, changed.CreatedByRunId, changed.LastUpdatedByRunId, changed.LastConfirmedRunId, changed.BatchId));

        var breaks = await database.DataSource.ProjectAsync(source, "breaks");
        Assert.Equal(("kept", before!.ContentHash, "r1-b1", "error", "timeout", run2, run2),
            (breaks!.Title, breaks.ContentHash, breaks.BatchId, breaks.Status, breaks.Error, breaks.LastUpdatedByRunId, breaks.LastConfirmedRunId));

        var recovers = await database.DataSource.ProjectAsync(source, "recovers");
        Assert.Equal(("ok", (string?)null, run2, "r2-b2"), (recovers!.Status, recovers.Error, recovers.LastUpdatedByRunId, recovers.BatchId));

        var absent = await database.DataSource.ProjectAsync(source, "absent");
        Assert.Equal((run1, run1), (absent!.LastUpdatedByRunId, absent.LastConfirmedRunId));

        var created = await database.DataSource.ProjectAsync(source, "new");
        Assert.Equal((run2, run2, "r2-b2"), (created!.CreatedByRunId, created.LastUpdatedByRunId, created.BatchId));

        var lineage = await database.DataSource.LineageAsync(run2);
        Assert.Equal(
            [("breaks", "r2-b2", "errored"), ("changed", "r2-b1", "updated"), ("new", "r2-b2", "created"), ("recovers", "r2-b2", "updated")],
            lineage.Select(l => (l.Key, l.BatchId, l.Change)));
        // An errored item keeps its content, so its lineage row carries the hash it still has.
        Assert.Equal(before.ContentHash, lineage[0].ContentHash);
    }

    [Fact]
    public async Task Should_count_a_repeated_error_as_errored_but_record_no_change()
    {
        var source = NewSource();
        var run1 = await Runs.StageAsync(database.DataSource, ("b1", [Item("flaky", error: "timeout")]));
        await promoter.PromoteAsync(run1, source, ProcessType.Ingestion, CancellationToken.None);

        var run2 = await Runs.StageAsync(database.DataSource, ("b1", [Item("flaky", error: "timeout")]));
        var result = await promoter.PromoteAsync(run2, source, ProcessType.Ingestion, CancellationToken.None);

        Assert.Equal(new PromotionCounts(Inserted: 0, Updated: 0, Unchanged: 0, Errored: 1), result.Counts);
        Assert.Empty(await database.DataSource.LineageAsync(run2));
        var flaky = await database.DataSource.ProjectAsync(source, "flaky");
        Assert.Equal((run1, run2), (flaky!.LastUpdatedByRunId, flaky.LastConfirmedRunId));
    }

    [Fact]
    public async Task Should_keep_each_source_apart()
    {
        var (left, right) = (NewSource(), NewSource());
        var run1 = await Runs.StageAsync(database.DataSource, ("b1", [Item("shared-key", title: "left")]));
        await promoter.PromoteAsync(run1, left, ProcessType.Ingestion, CancellationToken.None);

        var run2 = await Runs.StageAsync(database.DataSource, ("b1", [Item("shared-key", title: "right")]));
        var result = await promoter.PromoteAsync(run2, right, ProcessType.Ingestion, CancellationToken.None);

        Assert.Equal(1, result.Counts.Inserted);
        Assert.Equal("left", (await database.DataSource.ProjectAsync(left, "shared-key"))!.Title);
        Assert.Equal("right", (await database.DataSource.ProjectAsync(right, "shared-key"))!.Title);
    }
}

public sealed class When_a_run_is_promoted_twice(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly RunPromoter promoter = new(database.DataSource, Options.Create(new RunSagaOptions()));

    [Fact]
    public async Task Should_change_nothing_and_return_the_same_counts()
    {
        var source = NewSource();
        var run = await Runs.StageAsync(database.DataSource, ("b1", [Item("a"), Item("b", error: "x")]));
        var first = await promoter.PromoteAsync(run, source, ProcessType.Ingestion, CancellationToken.None);
        var fingerprint = await database.DataSource.ProjectsFingerprintAsync();

        var again = await promoter.PromoteAsync(run, source, ProcessType.Ingestion, CancellationToken.None);

        Assert.True(again.AlreadyPromoted);
        Assert.Equal(first.Counts, again.Counts);
        Assert.Equal(fingerprint, await database.DataSource.ProjectsFingerprintAsync());
        Assert.Equal(2, (await database.DataSource.LineageAsync(run)).Count);
    }

    [Fact]
    public async Task Should_promote_once_when_both_arrive_together()
    {
        var source = NewSource();
        var run = await Runs.StageAsync(database.DataSource, ("b1", Enumerable.Range(0, 500).Select(i => Item($"k{i}")).ToArray()));

        var results = await Task.WhenAll(
            Task.Run(() => promoter.PromoteAsync(run, source, ProcessType.Ingestion, CancellationToken.None)),
            Task.Run(() => promoter.PromoteAsync(run, source, ProcessType.Ingestion, CancellationToken.None)));

        Assert.Single(results, r => r.AlreadyPromoted);
        Assert.All(results, r => Assert.Equal(new PromotionCounts(500, 0, 0, 0), r.Counts));
        Assert.Equal(500, (await database.DataSource.LineageAsync(run)).Count);
    }
}

public sealed class When_a_promotion_fails(PostgresDatabase database) : IClassFixture<PostgresDatabase>, IAsyncLifetime
{
    private readonly RunPromoter promoter = new(database.DataSource, Options.Create(new RunSagaOptions()));

    public Task InitializeAsync() => database.DataSource.ExecuteAsync("""
        CREATE OR REPLACE FUNCTION runsaga.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.key = 'poison' THEN
                RAISE EXCEPTION 'poison item refused by the test trigger';
            END IF;
            RETURN NEW;
        END $$;
        DROP TRIGGER IF EXISTS refuse_poison ON runsaga.project_rows;
        CREATE TRIGGER refuse_poison BEFORE INSERT OR UPDATE ON runsaga.project_rows
            FOR EACH ROW EXECUTE FUNCTION runsaga.refuse_poison();
        """);

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Should_leave_projects_byte_identical()
    {
        var source = NewSource();
        var run1 = await Runs.StageAsync(database.DataSource, ("b1", [Item("a"), Item("b"), Item("c", error: "x")]));
        await promoter.PromoteAsync(run1, source, ProcessType.Ingestion, CancellationToken.None);
        var fingerprint = await database.DataSource.ProjectsFingerprintAsync();

        var run2 = await Runs.StageAsync(database.DataSource,
            ("b1", [Item("a", title: "changed"), Item("c"), Item("new"), Item("poison")]));
        var failure = await Assert.ThrowsAsync<PostgresException>(() => promoter.PromoteAsync(run2, source, ProcessType.Ingestion, CancellationToken.None));

        Assert.Contains("poison item refused", failure.MessageText, StringComparison.Ordinal);
        Assert.False(TransientDatabaseErrors.IsTransient(failure));
        Assert.Equal(fingerprint, await database.DataSource.ProjectsFingerprintAsync());
        Assert.Empty(await database.DataSource.LineageAsync(run2));
        Assert.Equal(0L, await database.DataSource.ScalarAsync<long>(
            "SELECT count(*) FROM runsaga.run_promotions WHERE run_id = @run", ("run", run2)));
    }
}

public sealed class When_a_run_was_cancelled_before_its_promotion(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private readonly RunPromoter promoter = new(database.DataSource, Options.Create(new RunSagaOptions()));

    [Fact]
    public async Task Should_promote_nothing_and_record_no_promotion()
    {
        var source = NewSource();
        await promoter.PromoteAsync(await Runs.StageAsync(database.DataSource, ("b1", [Item("a"), Item("b")])), source, ProcessType.Ingestion, CancellationToken.None);
        var before = await database.DataSource.ProjectsFingerprintAsync();
        var run = await Runs.StageAsync(database.DataSource, ("b1", [Item("a", title: "changed"), Item("c")]));
        await database.DataSource.ExecuteAsync("""
            INSERT INTO runsaga.runs (id, version, saga_state, status, source, process_type, created_at, batch_ids, metrics, retention_withheld)
            VALUES (@id, 1, 'Cancelled', 'Cancelled', @source, 'ingestion', now(), '{}', '[]', false)
            """, ("id", run), ("source", source));

        var result = await promoter.PromoteAsync(run, source, ProcessType.Ingestion, CancellationToken.None);

        Assert.True(result.Cancelled);
        Assert.Equal(before, await database.DataSource.ProjectsFingerprintAsync());
        Assert.Equal(0L, await database.DataSource.ScalarAsync<long>("SELECT count(*) FROM runsaga.run_promotions WHERE run_id = @run", ("run", run)));
    }
}
