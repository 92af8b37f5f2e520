using RunSaga.Shared.Messaging;

namespace RunSaga.Orchestrator.Deadlines;

/// <summary>
/// Asks RabbitMQ how far behind staging is: the batches waiting in <c>runsaga.staging</c> and the Consumers reading
/// it. The deadline watcher uses the answer so that an outage of the Consumers, the broker or the database is not
/// mistaken for a scraper that never published its batches.
/// </summary>
public sealed class StagingBacklog(IConfiguration configuration) : IAsyncDisposable
{
    private readonly QueueProbe probe = new(configuration, "runsaga-orchestrator-deadlines");

    /// <summary>Why staging is behind right now, or null when it has caught up (nothing waiting, a consumer reading).</summary>
    public async Task<string?> BehindAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await probe.ReadAsync(QueueNames.Staging, cancellationToken) switch
            {
                null => $"{QueueNames.Staging} does not exist yet (the Consumers have never started on this broker)",
                (_, 0) => $"{QueueNames.Staging} has no consumer (are the Consumers running?)",
                ( > 0 and var waiting, _) => $"{QueueNames.Staging} holds {waiting} batches not yet staged",
                _ => null,
            };
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return $"RabbitMQ could not be asked about {QueueNames.Staging} ({ex.GetType().Name}: {ex.Message})";
        }
    }

    public ValueTask DisposeAsync() => probe.DisposeAsync();
}
