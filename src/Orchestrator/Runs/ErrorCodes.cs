namespace RunSaga.Orchestrator.Runs;

/// <summary>The error codes RunSaga itself gives a failed run (scrapers bring their own through ScrapeFailed).</summary>
public static class ErrorCodes
{
    public const string FlushIncomplete = "FLUSH_INCOMPLETE";
    public const string CountMismatch = "COUNT_MISMATCH";
    public const string NoItems = "NO_ITEMS";
    public const string BatchTooLarge = "BATCH_TOO_LARGE";
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
}
