using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RunSaga.IntegrationTests.Faults;
using RunSaga.IntegrationTests.Fixture;

namespace RunSaga.IntegrationTests.Api;

/// <summary>
/// A message that really failed (a scraper's <c>ScrapeCompleted</c> with a string where a number belongs, published raw
/// on the broker) is listed by <c>GET /errors</c> and described by <c>GET /errors/{queue}</c> over plain HTTP with a
/// reader's key: its type, its run, MassTransit's fault reason and time. Reading it twice finds it twice, in the same
/// place, and the queue still holds as many messages: nothing is taken. (A read returns only once the broker has taken back
/// what it read: a count asked right after it is not short.)
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_operators_read_dead_letters(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private const string Queue = "runsaga.runs_error";

    [Fact]
    public async Task Should_list_a_failed_message_with_its_reason_and_leave_it_in_its_queue()
    {
        using var api = Stack.Api("reader");
        var before = await Count(api);
        var runId = Guid.NewGuid();
        await HostileInput.PublishAsync(Publisher, HostileInput.Kind.WrongType, runId);
        await Eventually(async () => await Count(api) > before, $"{Queue} holds the failed message");

        var first = await Read(api);
        var letter = Assert.Single(first, m => m.TryGetProperty("runId", out var id) && id.ValueKind == JsonValueKind.String && id.GetGuid() == runId);
        Assert.Equal("ScrapeCompleted", letter.GetProperty("messageType").GetString());
        Assert.Equal("fault", letter.GetProperty("reason").GetString());
        Assert.Contains("as a number", letter.GetProperty("faultMessage").GetString(), StringComparison.Ordinal);
        Assert.True(letter.GetProperty("failedAt").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(-5));
        Assert.Contains("runsaga.runs", letter.GetProperty("inputAddress").GetString(), StringComparison.Ordinal);
        Assert.Contains("\"totalItems\":\"many\"", letter.GetProperty("body").GetString(), StringComparison.Ordinal);

        // Read again: the same messages first, in the same order, and the queue holds at least as many as the first read
        // found (a message of an earlier spec that MassTransit was still retrying may have arrived behind them meanwhile).
        var second = await Read(api);
        Assert.Equal(first.Select(m => m.GetProperty("messageId").GetString()), second.Take(first.Count).Select(m => m.GetProperty("messageId").GetString()));
        Assert.True(await Count(api) >= first.Count, $"{Queue} holds fewer messages than the first read found: a read took some");
    }

    [Fact]
    public async Task Should_answer_404_for_a_queue_that_is_not_a_dead_letter_queue_and_400_for_a_bad_limit()
    {
        using var api = Stack.Api("reader");
        foreach (var queue in new[] { "runsaga.runs", "runsaga.nothing_error", "amq.rabbitmq.trace" })
        {
            using var response = await api.GetAsync($"errors/{queue}");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        foreach (var limit in new[] { 0, 501 })
        {
            using var response = await api.GetAsync($"errors/{Queue}?limit={limit}");
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }
    }

    private static async Task<long> Count(HttpClient api)
    {
        var queues = await api.GetFromJsonAsync<JsonElement>("errors");
        return queues.EnumerateArray().Where(q => q.GetProperty("name").GetString() == Queue).Select(q => q.GetProperty("messages").GetInt64()).SingleOrDefault();
    }

    private static async Task<List<JsonElement>> Read(HttpClient api) =>
        [.. (await api.GetFromJsonAsync<JsonElement>($"errors/{Queue}?limit=500")).EnumerateArray()];
}
