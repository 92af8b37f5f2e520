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

    public static Uri Address(string queue) => new($"queue:{queue}");
}
