using System.Collections.Concurrent;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Tests.Bus;

/// <summary>
/// The consumer watchdog against the real RabbitMQ (as its administrator, see LocalBroker). MassTransit's
/// failure to consume again after a connection loss cannot be caused on purpose, so the spec gives the watchdog a queue
/// its bus has no endpoint for besides one its bus consumes: it must stop the process with exit code 75 after
/// CONSUMER_WATCHDOG_AFTER, naming only the unconsumed queue, and not before. In the second case another instance (a
/// plain AMQP consumer) consumes that queue: the broker counts a consumer, and this process must still restart, because
/// it is not the one consuming.
/// </summary>
public sealed class When_a_watched_queue_has_no_consumer : IAsyncLifetime
{
    private static readonly Uri RabbitMq = Infrastructure.LocalBroker.AdminUri;

    private readonly string consumed = $"runsaga-spec-consumed-{Guid.NewGuid():N}";
    private readonly string orphan = $"runsaga-spec-orphan-{Guid.NewGuid():N}";
    private IConnection connection = null!;

    public async Task InitializeAsync()
    {
        connection = await new ConnectionFactory { Uri = RabbitMq }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(orphan, durable: false, exclusive: false, autoDelete: false);
    }

    public async Task DisposeAsync()
    {
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeleteAsync(orphan);
            await channel.QueueDeleteAsync(consumed);
        }

        await connection.DisposeAsync();
    }

    [Fact]
    public Task Should_stop_the_process_for_its_supervisor_to_restart_it() => ExpectRestart(anotherInstanceConsumes: false);

    [Fact]
    public async Task Should_restart_a_stuck_instance_while_another_instance_consumes_its_queue()
    {
        await using var other = await connection.CreateChannelAsync();
        var consumer = new AsyncEventingBasicConsumer(other);
        await other.BasicConsumeAsync(orphan, autoAck: false, consumer);
        Assert.Equal(1u, (await other.QueueDeclarePassiveAsync(orphan)).ConsumerCount);
        await ExpectRestart(anotherInstanceConsumes: true);
    }

    private async Task ExpectRestart(bool anotherInstanceConsumes)
    {
        var logs = new ConcurrentQueue<string>();
        var lifetime = new RecordingLifetime();
        await using var provider = new ServiceCollection()
            .AddLogging(l => l.AddProvider(new ListLoggerProvider(logs)))
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(
                new Dictionary<string, string?> { ["ConnectionStrings:RabbitMq"] = RabbitMq.ToString() }).Build())
            .Configure<RunSagaOptions>(o => o.ConsumerWatchdogAfter = TimeSpan.FromSeconds(6))
            .AddSingleton<IHostApplicationLifetime>(lifetime)
            .AddMassTransit(x => x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(RabbitMq);
                cfg.ReceiveEndpoint(consumed, e => e.Handler<WatchdogPing>(_ => Task.CompletedTask));
            }))
            .BuildServiceProvider();
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync();
        var watchdog = ActivatorUtilities.CreateInstance<ConsumerWatchdog>(provider, (IReadOnlyList<string>)[consumed, orphan]);
        var exitCode = Environment.ExitCode;
        try
        {
            var started = DateTime.UtcNow;
            await watchdog.StartAsync(CancellationToken.None);
            var stopped = await Task.WhenAny(lifetime.StopRequested.Task, Task.Delay(TimeSpan.FromSeconds(60)));
            Assert.True(stopped == lifetime.StopRequested.Task, $"the watchdog should stop the process (another instance consumes: {anotherInstanceConsumes}); it logged:" + Environment.NewLine + string.Join(Environment.NewLine, logs));
            Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(6), "not before CONSUMER_WATCHDOG_AFTER");
            Assert.Equal(ConsumerWatchdog.RestartExitCode, Environment.ExitCode);
            Assert.Contains(logs, l => l.StartsWith("Critical", StringComparison.Ordinal) && l.Contains(orphan, StringComparison.Ordinal)
                && l.Contains("exit code 75", StringComparison.Ordinal));
            Assert.DoesNotContain(logs, l => l.Contains(consumed, StringComparison.Ordinal));
        }
        finally
        {
            Environment.ExitCode = exitCode;
            await watchdog.StopAsync(CancellationToken.None);
            await bus.StopAsync();
        }
    }

    public sealed record WatchdogPing;

    private sealed class RecordingLifetime : IHostApplicationLifetime
    {
        public TaskCompletionSource StopRequested { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => StopRequested.TrySetResult();
    }

    private sealed class ListLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new ListLogger(lines);

        public void Dispose()
        {
        }

        private sealed class ListLogger(ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue($"{logLevel}: {formatter(state, exception)}");
        }
    }
}
