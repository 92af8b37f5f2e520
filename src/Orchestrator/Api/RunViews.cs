using System.Text.Json;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.Api;

/// <summary>A run as the API shows it; <see cref="Steps"/> only in the detail view.</summary>
/// <param name="State">The saga's own state, finer than <see cref="Status"/>: <c>AwaitingStart</c> (shown as Queued),
/// <c>Flushing</c> (shown as Running) and <c>Duplicate</c> (shown as Cancelled) tell an operator what the run waits for.</param>
public sealed record RunView(
    Guid Id,
    string? Source,
    string ProcessType,
    string Status,
    string? IdempotencyKey,
    string? FolderName,
    string? RequestedBy,
    RunTimes Times,
    RunCounts Counts,
    RunError? Error,
    bool RetentionWithheld,
    RunArchive Archive,
    JsonElement? Steps,
    RunAttempt Attempt,
    string? CancelledBy,
    string? State = null)
{
    /// <param name="counts">The counts to show instead of the run row's (the detail view fills in staging's and retention's).</param>
    public static RunView From(RunState run, bool withSteps, RunCounts? counts = null) => new(
        run.CorrelationId,
        run.Source,
        run.ProcessType,
        run.Status,
        run.IdempotencyKey,
        run.FolderName,
        run.RequestedBy,
        new RunTimes(run.CreatedAt, run.RequestedAt, run.StartedAt, run.FlushedAt, run.CompletedAt, run.FailedAt, run.FlushDeadline, run.RunDeadline),
        counts ?? new RunCounts(run.ExpectedItems, run.ExpectedBatches, run.StagedItems, run.StagedBatches, run.RejectedItems,
            run.Inserted, run.Updated, run.Unchanged, run.Errored),
        run.ErrorCode is null ? null : new RunError(run.ErrorCode, run.ErrorMessage, run.ErrorDetail),
        run.RetentionWithheld,
        new RunArchive(run.ArchivedAt, run.ArchivePath, run.PinnedUntil, run.RestoredAt, run.DeletedAt, run.DeletionReason),
        withSteps ? JsonCase.CamelCased(run.Metrics) : null,
        new RunAttempt(run.Attempt, run.RetryOf, run.DuplicateOf),
        run.CancelledBy,
        run.CurrentState);
}

/// <summary>
/// The run among its idempotency key's runs: <see cref="Number"/> 1 for the first, one more than <see cref="RetryOf"/>'s
/// for a retry of a failed or cancelled run; <see cref="DuplicateOf"/> names the run that holds the key when this run id
/// was never run.
/// </summary>
public sealed record RunAttempt(int Number, Guid? RetryOf, Guid? DuplicateOf);

/// <param name="FlushDeadline">While the run waits for its flush verdict (or, unidentified, for its request): when it stops
/// waiting (FLUSH_TIMEOUT; moved on while staging is behind). Null once the run is flushed or ended.</param>
/// <param name="RunDeadline">While the run has started and is not flushed: when it fails RUN_TIMEOUT. Null otherwise.</param>
public sealed record RunTimes(
    DateTime CreatedAt, DateTime? RequestedAt, DateTime? StartedAt, DateTime? FlushedAt, DateTime? CompletedAt, DateTime? FailedAt,
    DateTime? FlushDeadline = null, DateTime? RunDeadline = null);

/// <param name="Deleted">Items retention deleted in the cycle this run applied (the detail view; null in lists).</param>
/// <param name="FromStaging">The staged counts were read from staging: the run ended before its flush recorded them.</param>
public sealed record RunCounts(
    int? ExpectedItems, int? ExpectedBatches, int? StagedItems, int? StagedBatches, int? RejectedItems,
    int? Inserted, int? Updated, int? Unchanged, int? Errored, int? Deleted = null, bool FromStaging = false);

public sealed record RunError(string Code, string? Message, string? Detail);

/// <summary>Where the run's artifacts are (see docs/retention.md).</summary>
public sealed record RunArchive(
    DateTime? ArchivedAt, string? ArchivePath, DateTime? PinnedUntil, DateTime? RestoredAt, DateTime? DeletedAt, string? DeletionReason);

/// <summary>One page of a list, newest first; <see cref="NextCursor"/> is null on the last page.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor);

/// <summary>
/// Keyset pagination over (created_at, id), both descending: the cursor is the last row of the page, opaque to
/// clients (base64url of its ticks and id).
/// </summary>
public readonly record struct RunCursor(DateTime CreatedAt, Guid Id)
{
    public string Encode() =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(FormattableString.Invariant($"{CreatedAt.Ticks}:{Id:N}")))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static bool TryDecode(string? text, out RunCursor cursor)
    {
        cursor = default;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        try
        {
            var padded = text.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - padded.Length % 4) % 4);
            var parts = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(padded)).Split(':');
            if (parts.Length == 2 && long.TryParse(parts[0], out var ticks) && ticks >= DateTime.MinValue.Ticks
                && ticks <= DateTime.MaxValue.Ticks && Guid.TryParseExact(parts[1], "N", out var id))
            {
                cursor = new RunCursor(new DateTime(ticks, DateTimeKind.Utc), id);
                return true;
            }
        }
        catch (FormatException)
        {
        }

        return false;
    }
}
