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
}
