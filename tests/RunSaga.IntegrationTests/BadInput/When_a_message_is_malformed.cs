using System.Text;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.BadInput;

/// <summary>
/// Bodies RunSaga cannot read, published to the exchanges a scraper uses (the broker routes by exchange):
/// <c>ItemsScraped</c>'s reaches the staging queue, <c>RunStarted</c>'s the saga's.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_message_is_malformed(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private const string StagingErrors = "runsaga.staging_error";
    private const string RunErrors = "runsaga.runs_error";
    private const string FaultMessage = "MT-Fault-Message";
    private const string FaultExceptionType = "MT-Fault-ExceptionType";

    [Fact]
    public async Task Should_move_a_batch_that_is_not_json_to_the_staging_error_queue_with_the_reason()
    {
        var runId = Guid.NewGuid();
        var body = $$"""{"messageType":["urn:message:RunSaga.Contracts:ItemsScraped"],"message":{"runId":"{{runId}}","batchId":"b1","items":[{"key":""";

        await Publisher.PublishRaw("ItemsScraped", Encoding.UTF8.GetBytes(body), ScraperPublisher.EnvelopeContentType);

        var faulted = await WaitForErrorMessage(StagingErrors, runId);
        Assert.False(string.IsNullOrWhiteSpace(faulted.Header(FaultMessage)), $"no {FaultMessage} header: {faulted}");
        Assert.Contains("Json", faulted.Header(FaultExceptionType) ?? string.Empty, StringComparison.Ordinal);
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", runId));
    }

    [Fact]
    public async Task Should_move_an_event_that_is_not_json_to_the_runs_error_queue_with_the_reason()
    {
        var runId = Guid.NewGuid();
        var body = $$"""{"messageType":["urn:message:RunSaga.Contracts:RunStarted"],"message":{"runId":"{{runId}}",""";

        await Publisher.PublishRaw("RunStarted", Encoding.UTF8.GetBytes(body), ScraperPublisher.EnvelopeContentType);

        var faulted = await WaitForErrorMessage(RunErrors, runId);
        Assert.False(string.IsNullOrWhiteSpace(faulted.Header(FaultMessage)), $"no {FaultMessage} header: {faulted}");
        Assert.Contains("Json", faulted.Header(FaultExceptionType) ?? string.Empty, StringComparison.Ordinal);
        Assert.Null(await Db.FindRun(runId));
    }

    [Fact]
    public async Task Should_refuse_plain_json_without_a_message_type_and_say_why()
    {
        var source = NewSource("untyped");
        var started = new ScrapeRun(source);
        var batch = new ScrapeRun(source);

        await Publisher.PublishPlainJson(started.Started(), withMessageType: false);
        await Publisher.PublishPlainJson(batch.Scraped(new Batch("b1", Items.Numbered(3))), withMessageType: false);

        // Never handed to every event of the saga: no run is created from it, and the reason names the header.
        var runFault = await WaitForErrorMessage(RunErrors, started.RunId);
        Assert.Contains(ScraperPublisher.MessageTypeHeader, runFault.Header(FaultMessage) ?? string.Empty, StringComparison.Ordinal);
        Assert.Null(await Db.FindRun(started.RunId));

        var batchFault = await WaitForErrorMessage(StagingErrors, batch.RunId);
        Assert.Contains(ScraperPublisher.MessageTypeHeader, batchFault.Header(FaultMessage) ?? string.Empty, StringComparison.Ordinal);
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", batch.RunId));
    }

    /// <summary>
    /// Found by the fault campaign (docs/reliability.md, finding 3): a RunStarted without runId was read as the empty
    /// UUID and created a run with it, which every later message without a run id then joined.
    /// </summary>
    [Fact]
    public async Task Should_refuse_a_message_without_a_run_id_and_make_no_run_of_it()
    {
        var marker = Guid.NewGuid();
        var started = $$$"""{"messageType":["urn:message:RunSaga.Contracts:RunStarted"],"message":{"source":"no-run-id-{{{marker}}}"}}""";
        var batch = $$$"""{"messageType":["urn:message:RunSaga.Contracts:ItemsScraped"],"message":{"batchId":"{{{marker}}}","items":[{"key":"k1"}]}}""";

        await Publisher.PublishRaw("RunStarted", Encoding.UTF8.GetBytes(started), ScraperPublisher.EnvelopeContentType);
        await Publisher.PublishRaw("ItemsScraped", Encoding.UTF8.GetBytes(batch), ScraperPublisher.EnvelopeContentType);

        var runFault = await WaitForErrorMessage(RunErrors, marker);
        Assert.Contains("no runId", runFault.Header(FaultMessage) ?? string.Empty, StringComparison.Ordinal);
        var batchFault = await WaitForErrorMessage(StagingErrors, marker);
        Assert.Contains("no runId", batchFault.Header(FaultMessage) ?? string.Empty, StringComparison.Ordinal);
        Assert.Null(await Db.FindRun(Guid.Empty));
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", Guid.Empty));
    }

    [Fact]
    public async Task Should_keep_serving_the_next_run()
    {
        var garbage = Guid.NewGuid();
        await Publisher.PublishRaw("ItemsScraped", Encoding.UTF8.GetBytes($"not json at all {garbage}"), ScraperPublisher.EnvelopeContentType);
        await Publisher.PublishRaw("RunRequested", Encoding.UTF8.GetBytes($"<xml>{garbage}</xml>"), "application/xml");
        await WaitForErrorMessage(StagingErrors, garbage);
        await WaitForErrorMessage(RunErrors, garbage);

        var source = NewSource("after-garbage");
        var run = new ScrapeRun(source);
        var row = await CompleteRun(run, Items.Numbered(120).InBatches(50));
        Assert.Equal(120, row.Inserted);
    }

    [Fact]
    public async Task Should_accept_plain_json_that_names_its_type()
    {
        var source = NewSource("typed-json");
        var run = new ScrapeRun(source);
        var batches = Items.Numbered(60).InBatches(25);

        foreach (var message in run.Whole(batches))
        {
            await Publisher.PublishPlainJson(message);
        }

        var row = await ExpectCompleted(run.RunId);
        Assert.Equal((60, 3, 60), (row.StagedItems, row.StagedBatches, row.Inserted));
    }

    private async Task<QueuedMessage> WaitForErrorMessage(string queue, Guid marker)
    {
        QueuedMessage? found = null;
        await Eventually(async () =>
        {
            found = (await Stack.Management.PeekMessages(Stack.VirtualHost, queue, 1000))
                .FirstOrDefault(m => m.Payload.Contains(marker.ToString(), StringComparison.OrdinalIgnoreCase));
            return found is not null;
        }, $"a message containing {marker} in {queue}", TimeSpan.FromSeconds(30));
        Output.WriteLine($"{queue}: {found}");
        return found!;
    }
}
