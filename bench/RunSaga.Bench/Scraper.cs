using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace RunSaga.Bench;

/// <summary>
/// Publishes runs exactly as a scraper in another language does (docs/wire-format.md): RabbitMQ.Client, hand-written
/// JSON in MassTransit's envelope, the exchange <c>RunSaga.Contracts:&lt;Name&gt;</c>, persistent messages and
/// publisher confirms, with up to <see cref="Window"/> publishes awaiting their confirm at once. It also watches
/// <c>RunCompleted</c> and <c>RunFailed</c> and notes when each run's arrived.
/// </summary>
public sealed class Scraper : IAsyncDisposable
{
    public const int Window = 32;

    private readonly IConnection connection;
    private readonly IChannel channel;
    private readonly IChannel watchChannel;
    private readonly ConcurrentDictionary<Guid, RunEnd> ends = new();
    private readonly HashSet<string> declared = new(StringComparer.Ordinal);
    private readonly Stopwatch clock;

    private Scraper(IConnection connection, IChannel channel, IChannel watchChannel, Stopwatch clock)
    {
        this.connection = connection;
        this.channel = channel;
        this.watchChannel = watchChannel;
        this.clock = clock;
    }

    /// <summary>How a run ended, and when (on the benchmark's clock) the event arrived.</summary>
    public sealed record RunEnd(bool Completed, TimeSpan At, string Body);

    public static async Task<Scraper> Connect(Uri amqp, Stopwatch clock)
    {
        var factory = new ConnectionFactory { Uri = amqp, ClientProvidedName = "runsaga-bench-scraper" };
        var connection = await factory.CreateConnectionAsync();
        var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var watchChannel = await connection.CreateChannelAsync();
        var scraper = new Scraper(connection, channel, watchChannel, clock);
        await scraper.WatchEnds();
        return scraper;
    }

    public static string ExchangeName(string messageName) => $"RunSaga.Contracts:{messageName}";

    /// <summary>How many consumers RabbitMQ counts on the benchmark's <c>runsaga.staging</c> queue.</summary>
    public async Task<uint> StagingConsumers()
    {
        await using var probe = await connection.CreateChannelAsync();
        return (await probe.QueueDeclarePassiveAsync("runsaga.staging")).ConsumerCount;
    }

    /// <summary>When the run's end event arrived; waits for it up to <paramref name="timeout"/>.</summary>
    public async Task<RunEnd> WaitForEnd(Guid runId, TimeSpan timeout)
    {
        var deadline = clock.Elapsed + timeout;
        while (true)
        {
            if (ends.TryGetValue(runId, out var end))
            {
                return end;
            }

            if (clock.Elapsed > deadline)
            {
                throw new TimeoutException($"Run {runId} did not complete or fail within {timeout}; see the hosts' logs in .run/bench/.");
            }

            await Task.Delay(5);
        }
    }

    /// <summary>Every message of <paramref name="messages"/>, with up to <see cref="Window"/> confirms outstanding.</summary>
    public async Task PublishAll(IEnumerable<(string Name, byte[] Body)> messages)
    {
        var pending = new List<Task>(Window);
        foreach (var (name, body) in messages)
        {
            pending.Add(Publish(name, body));
            if (pending.Count >= Window)
            {
                var done = await Task.WhenAny(pending);
                pending.Remove(done);
                await done;
            }
        }

        await Task.WhenAll(pending);
    }

    /// <summary>Returns once the broker has confirmed the message (it then sits in every bound queue).</summary>
    public async Task Publish(string messageName, byte[] body)
    {
        var exchange = ExchangeName(messageName);
        await Declare(exchange);
        var properties = new BasicProperties
        {
            ContentType = Envelope.ContentType,
            DeliveryMode = DeliveryModes.Persistent,
        };
        await channel.BasicPublishAsync(exchange, routingKey: string.Empty, mandatory: true, properties, body);
    }

    public async ValueTask DisposeAsync()
    {
        await watchChannel.CloseAsync();
        await channel.CloseAsync();
        await connection.CloseAsync();
        await connection.DisposeAsync();
    }

    private async Task Declare(string exchange)
    {
        lock (declared)
        {
            if (declared.Contains(exchange))
            {
                return;
            }
        }

        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
        lock (declared)
        {
            declared.Add(exchange);
        }
    }

    private async Task WatchEnds()
    {
        var queue = await watchChannel.QueueDeclareAsync(queue: string.Empty, durable: false, exclusive: true, autoDelete: true);
        foreach (var name in new[] { "RunCompleted", "RunFailed" })
        {
            await watchChannel.ExchangeDeclareAsync(ExchangeName(name), ExchangeType.Fanout, durable: true, autoDelete: false);
            await watchChannel.QueueBindAsync(queue.QueueName, ExchangeName(name), routingKey: string.Empty);
        }

        var consumer = new AsyncEventingBasicConsumer(watchChannel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            var at = clock.Elapsed;
            using var envelope = JsonDocument.Parse(delivery.Body);
            var root = envelope.RootElement;
            if (root.TryGetProperty("message", out var message)
                && message.TryGetProperty("runId", out var runId)
                && root.TryGetProperty("messageType", out var types))
            {
                var completed = types.EnumerateArray().Any(t => t.GetString()?.EndsWith(":RunCompleted", StringComparison.Ordinal) == true);
                ends.TryAdd(runId.GetGuid(), new RunEnd(completed, at, message.GetRawText()));
            }

            return Task.CompletedTask;
        };
        await watchChannel.BasicConsumeAsync(queue.QueueName, autoAck: true, consumer);
    }
}

/// <summary>MassTransit's JSON envelope, written by hand: <c>{messageId, messageType: [urn], message: {…}}</c>.</summary>
public static class Envelope
{
    public const string ContentType = "application/vnd.masstransit+json";

    public static byte[] RunRequested(Guid runId, string source) => Write("RunRequested", w =>
    {
        w.WriteString("runId", runId);
        w.WriteString("source", source);
        w.WriteString("processType", "ingestion");
        w.WriteString("requestedBy", "bench");
    });

    public static byte[] RunStarted(Guid runId, string source) => Write("RunStarted", w =>
    {
        w.WriteString("runId", runId);
        w.WriteString("source", source);
        w.WriteString("processType", "ingestion");
    });

    public static byte[] ScrapeCompleted(Guid runId, int totalItems, int totalBatches) => Write("ScrapeCompleted", w =>
    {
        w.WriteString("runId", runId);
        w.WriteNumber("totalItems", totalItems);
        w.WriteNumber("totalBatches", totalBatches);
    });

    public static byte[] ItemsScraped(Guid runId, string batchId, IReadOnlyList<BenchItem> items) => Write("ItemsScraped", w =>
    {
        w.WriteString("runId", runId);
        w.WriteString("batchId", batchId);
        w.WriteStartArray("items");
        foreach (var item in items)
        {
            w.WriteStartObject();
            w.WriteString("key", item.Key);
            w.WriteString("title", item.Title);
            w.WriteString("url", item.Url);
            w.WritePropertyName("data");
            w.WriteRawValue(item.Data, skipInputValidation: true);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    });

    public static string BatchId(int index) => $"b{index + 1:D6}";

    private static byte[] Write(string messageName, Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("messageId", Guid.NewGuid());
            w.WriteStartArray("messageType");
            w.WriteStringValue($"urn:message:RunSaga.Contracts:{messageName}");
            w.WriteEndArray();
            w.WriteStartObject("message");
            body(w);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
