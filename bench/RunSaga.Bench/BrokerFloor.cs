using System.Diagnostics;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace RunSaga.Bench;

/// <summary>
/// The broker's share: the same message bodies published the same way (persistent, confirmed, the same window)
/// to a queue of the same type as RunSaga's (quorum unless RABBITMQ_QUEUE_TYPE says otherwise), and consumed by a
/// raw consumer with the staging endpoint's prefetch that only acknowledges. No MassTransit, no PostgreSQL.
/// </summary>
public static class BrokerFloor
{
    private const string Queue = "bench.raw";

    public static async Task<TimeSpan> Run(Uri amqp, IEnumerable<byte[]> bodies, int count, ushort prefetch)
    {
        var factory = new ConnectionFactory { Uri = amqp, ClientProvidedName = "runsaga-bench-broker-floor" };
        await using var connection = await factory.CreateConnectionAsync();
        await using var publishChannel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await using var consumeChannel = await connection.CreateChannelAsync();

        var queueType = Environment.GetEnvironmentVariable("RABBITMQ_QUEUE_TYPE") is { Length: > 0 } type ? type : "quorum";
        await publishChannel.QueueDeleteAsync(Queue);
        await publishChannel.QueueDeclareAsync(Queue, durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-queue-type"] = queueType });

        var consumed = 0;
        var allConsumed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await consumeChannel.BasicQosAsync(0, prefetch, global: false);
        var consumer = new AsyncEventingBasicConsumer(consumeChannel);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            await consumeChannel.BasicAckAsync(delivery.DeliveryTag, multiple: false);
            if (Interlocked.Increment(ref consumed) == count)
            {
                allConsumed.TrySetResult();
            }
        };
        await consumeChannel.BasicConsumeAsync(Queue, autoAck: false, consumer);

        var watch = Stopwatch.StartNew();
        var properties = new BasicProperties { ContentType = Envelope.ContentType, DeliveryMode = DeliveryModes.Persistent };
        var pending = new List<Task>(Scraper.Window);
        foreach (var body in bodies)
        {
            pending.Add(publishChannel.BasicPublishAsync(string.Empty, Queue, mandatory: true, properties, body).AsTask());
            if (pending.Count >= Scraper.Window)
            {
                var done = await Task.WhenAny(pending);
                pending.Remove(done);
                await done;
            }
        }

        await Task.WhenAll(pending);
        if (await Task.WhenAny(allConsumed.Task, Task.Delay(TimeSpan.FromMinutes(10))) != allConsumed.Task)
        {
            throw new TimeoutException($"The raw consumer got {consumed} of {count} messages within 10 minutes.");
        }

        watch.Stop();
        await publishChannel.QueueDeleteAsync(Queue);
        return watch.Elapsed;
    }
}
