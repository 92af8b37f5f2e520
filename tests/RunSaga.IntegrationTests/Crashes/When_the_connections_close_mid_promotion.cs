using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Crashes;

/// <summary>
/// The regression test of the campaign's fifth finding (docs/reliability.md): the hosts' AMQP connections are closed
/// while a promotion statement runs (held for 3 s by a trigger), so the message's acknowledgement has nowhere to go.
/// MassTransit 8.5 sometimes never consumes from such an endpoint again; the run then waits in Flushed for ever. Every
/// RunSaga queue must have a consumer again soon after, and the run must complete.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_the_connections_close_mid_promotion(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(150);

    [Fact]
    public async Task Should_consume_from_every_queue_again_and_complete_the_run()
    {
        var source = NewSource("close-mid-promotion");
        var items = Items.Numbered(200);
        var run = new ScrapeRun(source);
        var hold = await Db.OnProjectsInsert(source, items[^1].Key, "PERFORM pg_sleep(3);");
        try
        {
            await Publisher.Publish(run.Whole(items.InBatches(50)));
            await Eventually(Db.PromotionStatementIsRunning, "the promotion statement shows in pg_stat_activity", Timeout, TimeSpan.FromMilliseconds(10));

            var closed = await Stack.Management.CloseConnections(Stack.VirtualHost, keep: "runsaga-integration-tests");
            Output.WriteLine($"closed {closed} connections while the promotion ran");

            await ExpectCompleted(run.RunId, Timeout);
            await Eventually(EveryQueueIsConsumed, "every RunSaga queue has a consumer again", Timeout);
        }
        finally
        {
            await hold.DisposeAsync();
        }

        Assert.Equal(200, await Db.Count("SELECT count(*) FROM runsaga.projects WHERE source = @p0", source));
    }

    /// <summary>The same, but the promotion is waiting between retries of a transient error when the connections close.</summary>
    [Fact]
    public async Task Should_consume_again_when_the_connections_close_while_a_message_waits_to_be_retried()
    {
        var source = NewSource("close-mid-retry");
        var items = Items.Numbered(50);
        var run = new ScrapeRun(source);
        var gate = $"runsaga.it_gate_{Guid.NewGuid():N}";
        // The trigger runs as the hosts' role, which may read only what it is granted.
        await Db.Execute($"CREATE TABLE {gate} (closed boolean); INSERT INTO {gate} VALUES (true); GRANT SELECT ON {gate} TO PUBLIC;");
        var fail = await Db.OnProjectsInsert(source, key: null, $"IF EXISTS (SELECT 1 FROM {gate}) THEN RAISE EXCEPTION 'held by the test' USING ERRCODE = '40001'; END IF;");
        try
        {
            var mark = Stack.Logs.Mark();
            await Publisher.Publish(run.Whole(items.InBatches(25)));
            await Eventually(
                () => Task.FromResult(Stack.Logs.Since(mark, 10_000).Any(l => l.Contains("R-RETRY", StringComparison.Ordinal) && l.Contains("runsaga.promotion", StringComparison.Ordinal))),
                "the promotion is being retried", Timeout);
            await Task.Delay(TimeSpan.FromSeconds(3));

            var closed = await Stack.Management.CloseConnections(Stack.VirtualHost, keep: "runsaga-integration-tests");
            Output.WriteLine($"closed {closed} connections while the promotion waited to be retried");
            await Task.Delay(TimeSpan.FromSeconds(5));
            await Db.Execute($"DELETE FROM {gate}");

            await ExpectCompleted(run.RunId, Timeout);
            await Eventually(EveryQueueIsConsumed, "every RunSaga queue has a consumer again", Timeout);
        }
        finally
        {
            await fail.DisposeAsync();
            await Db.Execute($"DROP TABLE IF EXISTS {gate}");
        }

        Assert.Equal(50, await Db.Count("SELECT count(*) FROM runsaga.projects WHERE source = @p0", source));
    }

    private async Task<bool> EveryQueueIsConsumed() =>
        (await Stack.Management.Queues(Stack.VirtualHost))
            .Where(q => q.Name.StartsWith("runsaga.", StringComparison.Ordinal) && !q.Name.EndsWith("_error", StringComparison.Ordinal)
                && !q.Name.EndsWith("_skipped", StringComparison.Ordinal) && q.Name != "runsaga.openlineage")
            .All(q => q.Consumers > 0);
}
