using System.Globalization;
using MassTransit;
using RunSaga.Contracts;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.SagaRepository;

/// <summary>
/// The history line of one message the saga handled (<see cref="RunHistory"/>): its type and id, when it was sent, the
/// state before and after, what it did to the run, and a short summary of what it carried.
/// </summary>
internal static class SagaHistory
{
    public static RunHistoryEntry Entry<T>(ConsumeContext<T> context, RunState run, string? stateBefore, bool saved)
        where T : class
    {
        var outcome = run.HistoryOutcome ?? (saved ? "changed" : "unchanged");
        var summary = Summary(context.Message);
        if (run.HistoryNote is { } note)
        {
            summary = summary is null ? note : $"{summary}; {note}";
        }

        return new RunHistoryEntry(
            run.CorrelationId,
            "saga",
            context.Message is Fault<PromoteRun> ? "Fault<PromoteRun>" : typeof(T).Name,
            outcome,
            summary,
            context.MessageId,
            context.SentTime,
            stateBefore ?? "Initial",
            run.CurrentState);
    }

    /// <summary>What the message carried, in a line.</summary>
    private static string? Summary(object message) => message switch
    {
        RunRequested m => Join(
            $"source {m.Source}", m.ProcessType is { } type ? $"process type {type}" : null,
            m.IdempotencyKey is { } key ? $"idempotency key {key}" : null, m.RequestedBy is { } by ? $"requested by {by}" : null),
        RunStarted m => Join($"source {m.Source}", m.ProcessType is { } type ? $"process type {type}" : null,
            m.IdempotencyKey is { } key ? $"idempotency key {key}" : null),
        ScrapeCompleted m => $"{Count(m.TotalItems)} items in {Count(m.TotalBatches)} batches announced",
        ScrapeFailed m => $"{m.ErrorCode}: {m.ErrorMessage}",
        BatchRejected m => $"batch {m.BatchId} refused: {m.ErrorCode}: {m.ErrorMessage}",
        FlushConfirmed m => $"{Count(m.StagedItems)} items in {Count(m.StagedBatches)} batches staged, {Count(m.RejectedItems)} rejected, "
            + $"{Count(m.DuplicateItems)} repeated keys",
        FlushFailed m => $"{m.ErrorCode}: {m.ErrorMessage}",
        ProjectsUpserted m => $"{Count(m.Inserted)} inserted, {Count(m.Updated)} updated, {Count(m.Unchanged)} unchanged, {Count(m.Errored)} errored"
            + (m.LineageRecorded ? "; lineage recorded with it" : "; lineage to stamp"),
        LineageStamped => "lineage stamped",
        Fault<PromoteRun> m => string.Join("; ", (m.Exceptions ?? []).Select(e => $"{e.ExceptionType}: {e.Message}")),
        RunDeadlinePassed m => Join($"{m.Deadline} deadline", m.HoldReason is { } hold ? $"pipeline behind: {hold}" : null),
        CancelRun m => Join($"by {m.RequestedBy ?? "an unnamed sender"}", m.Reason),
        _ => null,
    };

    private static string Count(int value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Join(params string?[] parts) => string.Join(", ", parts.Where(p => !string.IsNullOrEmpty(p)));
}
