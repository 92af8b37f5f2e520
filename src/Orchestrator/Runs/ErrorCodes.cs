namespace RunSaga.Orchestrator.Runs;

/// <summary>The error codes RunSaga itself gives a failed run (scrapers bring their own through ScrapeFailed).</summary>
public static class ErrorCodes
{
    public const string FlushIncomplete = "FLUSH_INCOMPLETE";
    public const string CountMismatch = "COUNT_MISMATCH";
    public const string NoItems = "NO_ITEMS";
    public const string BatchTooLarge = "BATCH_TOO_LARGE";
    /// <summary>A batch without a usable batchId or items list (the Consumers' BatchLimits).</summary>
    public const string InvalidBatch = "INVALID_BATCH";
    /// <summary>A batch that could not be read at all (the Consumers' BatchReceiveFilters).</summary>
    public const string BatchUnreadable = "BATCH_UNREADABLE";
    public const string PromotionFailed = "PROMOTION_FAILED";
    public const string RunTimeout = "RUN_TIMEOUT";
    public const string RunNeverIdentified = "RUN_NEVER_IDENTIFIED";
    public const string InvalidProcessType = "INVALID_PROCESS_TYPE";
    public const string InvalidRequest = "INVALID_REQUEST";
    /// <summary>The run's idempotency key is held by a run of another source.</summary>
    public const string IdempotencyKeyConflict = "IDEMPOTENCY_KEY_CONFLICT";
    /// <summary>Cancelled by a <c>CancelRun</c> (status Cancelled).</summary>
    public const string Cancelled = "CANCELLED";
    /// <summary>The run id's idempotency key is held by another run of its source; it was never run (status Cancelled).</summary>
    public const string DuplicateRun = "DUPLICATE_RUN";
    /// <summary>A scraper's failure whose code is not <c>^[A-Z0-9_]{1,64}$</c> (the code as sent is in the detail).</summary>
    public const string ScraperError = "SCRAPER_ERROR";
    /// <summary>A scraper's failure that named no code.</summary>
    public const string ScrapeFailed = "SCRAPE_FAILED";

    /// <summary>RunSaga's own codes: the bounded set a metric label may take (any scraper's code counts as SCRAPER_ERROR).</summary>
    public static readonly IReadOnlySet<string> Own = new HashSet<string>(StringComparer.Ordinal)
    {
        FlushIncomplete, CountMismatch, NoItems, BatchTooLarge, PromotionFailed, RunTimeout, RunNeverIdentified, InvalidProcessType,
        InvalidRequest, IdempotencyKeyConflict, Cancelled, DuplicateRun, ScraperError, ScrapeFailed, InvalidBatch, BatchUnreadable,
    };

    /// <summary>The code as a metric label: one of <see cref="Own"/>, so a scraper cannot grow /metrics without bound.</summary>
    public static string AsMetricLabel(string? code) => code is not null && Own.Contains(code) ? code : ScraperError;
}
