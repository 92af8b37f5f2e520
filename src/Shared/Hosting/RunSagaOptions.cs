using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace RunSaga.Shared.Hosting;

/// <summary>
/// The pipeline's knobs, read from configuration keys named as the product documents them
/// (environment variables <c>FLUSH_TIMEOUT=00:05:00</c> and so on) and validated at start.
/// </summary>
public sealed class RunSagaOptions
{
    /// <summary>How long a requested flush waits for missing batches before FLUSH_INCOMPLETE.</summary>
    [ConfigurationKeyName("FLUSH_TIMEOUT")]
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan FlushTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long staging must have kept up (no batch waiting in <c>runsaga.staging</c>, a Consumer on it, RabbitMQ and
    /// PostgreSQL reachable) before a passed FLUSH_TIMEOUT may fail a run. An outage does not count against a flush:
    /// batches that waited it out in the queue are staged first. It should exceed the longest retry interval of the
    /// Consumers (30 s).
    /// </summary>
    [ConfigurationKeyName("STAGING_SETTLE")]
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan StagingSettle { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>
    /// How long a queue this host consumes may have no consumer (while RabbitMQ answers) before the host stops with
    /// exit code 75 for its supervisor to start it again; see ConsumerWatchdog.
    /// </summary>
    [ConfigurationKeyName("CONSUMER_WATCHDOG_AFTER")]
    [Range(typeof(TimeSpan), "00:00:06", "01:00:00")]
    public TimeSpan ConsumerWatchdogAfter { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a run may take to reach Flushed before RUN_TIMEOUT.</summary>
    [ConfigurationKeyName("RUN_TIMEOUT")]
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan RunTimeout { get; set; } = TimeSpan.FromHours(6);

    /// <summary>How long the saga waits for the answer to a command before sending it again (it is idempotent).</summary>
    [ConfigurationKeyName("RESEND_AFTER")]
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan ResendAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long one promotion or lineage statement may run. A whole run is promoted in one statement, so this
    /// grows with the run (about a minute per million items on a small machine); Npgsql's 30 s default would
    /// turn every large run into an endless retry.
    /// </summary>
    [ConfigurationKeyName("PROMOTION_TIMEOUT")]
    [Range(typeof(TimeSpan), "00:00:05", "1.00:00:00")]
    public TimeSpan PromotionTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>How often the deadline watcher looks for passed deadlines.</summary>
    [ConfigurationKeyName("DEADLINE_POLL_INTERVAL")]
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan DeadlinePollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How often a host's outbox dispatcher looks at <c>runsaga.outbox_messages</c> without being woken. A commit wakes it at
    /// once (in its own process directly, in the others by NOTIFY); this bounds how long a message left by a host that died
    /// waits for another host.
    /// </summary>
    [ConfigurationKeyName("OUTBOX_POLL_INTERVAL")]
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan OutboxPollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A batch with more items than this is rejected whole (BATCH_TOO_LARGE).</summary>
    [ConfigurationKeyName("MAX_BATCH_ITEMS")]
    [Range(1, 1_000_000)]
    public int MaxBatchItems { get; set; } = 10_000;

    /// <summary>A batch whose message body is larger than this is rejected whole (BATCH_TOO_LARGE).</summary>
    [ConfigurationKeyName("MAX_BATCH_BYTES")]
    [Range(1024, 512 * 1024 * 1024)]
    public int MaxBatchBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// Whether each run keeps its event history (<c>runsaga.run_events</c>, <c>GET /runs/{id}/events</c>): one row per
    /// message the saga handles and per Consumers step. On by default; off only to measure what it costs
    /// (<c>scripts/bench</c>) or to shed that write under extreme load. Off, the history of new steps is simply not kept.
    /// </summary>
    [ConfigurationKeyName("RUN_HISTORY")]
    public bool RunHistory { get; set; } = true;
}
