using System.Text.Json;
using System.Text.RegularExpressions;
using RunSaga.Contracts;

namespace RunSaga.Orchestrator.Runs;

/// <summary>
/// How much a scraper (or a POST /runs) may put into a run's ledger row. A request or start beyond these fails its run
/// with INVALID_REQUEST and the reason; nothing of it is stored. A scraper's error code must look like one of RunSaga's
/// (<see cref="ErrorCode"/>); any other is recorded as SCRAPER_ERROR with the code as sent in the detail.
/// </summary>
public static partial class RequestLimits
{
    /// <summary>The length of <c>runs.source</c>.</summary>
    public const int Source = 256;
    public const int ProcessType = 32;
    public const int IdempotencyKey = 512;
    /// <summary>requestedBy, inputVersion, pipelineVersion.</summary>
    public const int Label = 256;
    /// <summary>The request's metadata, as JSON.</summary>
    public const int MetadataBytes = 16 * 1024;
    public const int ErrorMessage = 2_000;
    public const int ErrorDetail = 8_000;

    /// <summary>What a scraper's ScrapeFailed code becomes when it is not <c>^[A-Z0-9_]{1,64}$</c>.</summary>
    public const string ScraperErrorCode = ErrorCodes.ScraperError;

    [GeneratedRegex("^[A-Z0-9_]{1,64}$", RegexOptions.CultureInvariant)]
    public static partial Regex ErrorCode();

    /// <summary>Why the request cannot be recorded as it is, or null.</summary>
    public static string? Problem(RunRequested message) =>
        TooLong("source", message.Source, Source)
        ?? TooLong("processType", message.ProcessType, ProcessType)
        ?? TooLong("idempotencyKey", message.IdempotencyKey, IdempotencyKey)
        ?? TooLong("requestedBy", message.RequestedBy, Label)
        ?? TooLong("inputVersion", message.InputVersion, Label)
        ?? TooLong("pipelineVersion", message.PipelineVersion, Label)
        ?? (message.Metadata is { Count: > 0 } metadata && JsonSerializer.SerializeToUtf8Bytes(metadata).Length is var size && size > MetadataBytes
            ? $"metadata is {size} bytes of JSON; at most {MetadataBytes}"
            : null);

    /// <summary>Why the start cannot be recorded as it is, or null.</summary>
    public static string? Problem(RunStarted message) =>
        TooLong("source", message.Source, Source)
        ?? TooLong("processType", message.ProcessType, ProcessType)
        ?? TooLong("idempotencyKey", message.IdempotencyKey, IdempotencyKey);

    /// <summary>A scraper's failure as the ledger records it: a valid code kept, anything else SCRAPER_ERROR; text bounded.</summary>
    public static RunError ScraperFailure(ScrapeFailed message)
    {
        var message_ = Truncate(message.ErrorMessage is { Length: > 0 } text ? text : "The scraper reported a failure.", ErrorMessage);
        var detail = message.ErrorDetail;
        var code = message.ErrorCode;
        if (string.IsNullOrEmpty(code))
        {
            code = ErrorCodes.ScrapeFailed;
        }
        else if (!ErrorCode().IsMatch(code) || (ErrorCodes.Own.Contains(code) && code != ErrorCodes.ScrapeFailed))
        {
            // Not a code at all, or one of RunSaga's own, which a scraper may not claim (CANCELLED would count as a cancel).
            detail = $"errorCode as sent ({(ErrorCode().IsMatch(code) ? "one of RunSaga's own codes" : "not ^[A-Z0-9_]{1,64}$")}): {Truncate(code, 200)}"
                + (string.IsNullOrEmpty(detail) ? string.Empty : Environment.NewLine + detail);
            code = ScraperErrorCode;
        }

        return new RunError(code, message_, detail is null ? null : Truncate(detail, ErrorDetail));
    }

    public static string Truncate(string value, int length) =>
        value.Length <= length ? value : string.Concat(value.AsSpan(0, length - 1), "…");

    private static string? TooLong(string field, string? value, int limit) =>
        value is { Length: var length } && length > limit ? $"{field} is {length} characters; at most {limit}" : null;
}
