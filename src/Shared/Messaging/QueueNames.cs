namespace RunSaga.Shared.Messaging;

/// <summary>
/// The receive endpoints of RunSaga. The saga sends its commands to these queues; each has a
/// <c>&lt;name&gt;_error</c> queue for messages that could not be processed.
/// </summary>
public static class QueueNames
{
    public const string Runs = "runsaga.runs";
    public const string Staging = "runsaga.staging";
    public const string Flush = "runsaga.flush";
    public const string Promotion = "runsaga.promotion";
    public const string Lineage = "runsaga.lineage";
    public const string Retention = "runsaga.retention";
    /// <summary>The Orchestrator's metrics consumer: a copy of the run and retention events, counted.</summary>
    public const string Metrics = "runsaga.metrics";

    /// <summary>
    /// Where the saga sends a command for <paramref name="queue"/>: the exchange of the same name, which the queue is
    /// bound to. Not <c>queue:</c>: MassTransit would declare the queue without its type (quorum), which RabbitMQ
    /// refuses; the Orchestrator declares these queues itself at start (CommandQueues).
    /// </summary>
    public static Uri Address(string queue) => new($"exchange:{queue}");
}
