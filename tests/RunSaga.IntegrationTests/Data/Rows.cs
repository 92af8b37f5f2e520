using System.Text.Json;
using System.Text.Json.Nodes;

namespace RunSaga.IntegrationTests.Data;

/// <summary>A row of <c>runsaga.runs</c>, as operators read it.</summary>
public sealed record RunRow(
    Guid Id,
    string Status,
    string SagaState,
    string? Source,
    string ProcessType,
    string? IdempotencyKey,
    string? FolderName,
    DateTime? StartedAt,
    DateTime? FlushedAt,
    DateTime? CompletedAt,
    DateTime? FailedAt,
    int? ExpectedItems,
    int? ExpectedBatches,
    int? StagedItems,
    int? StagedBatches,
    int? RejectedItems,
    int? Inserted,
    int? Updated,
    int? Unchanged,
    int? Errored,
    string? ErrorCode,
    string? ErrorMessage,
    string? ErrorDetail,
    string[] BatchIds,
    string Metrics)
{
    /// <summary>The step record <c>{name, status, started_at, finished_at, error, …}</c> named <paramref name="name"/>.</summary>
    public JsonObject? Step(string name) =>
        (JsonNode.Parse(Metrics) as JsonArray)?.OfType<JsonObject>().FirstOrDefault(s => (string?)s["name"] == name);

    public override string ToString() => JsonSerializer.Serialize(this);
}

/// <summary>A row of <c>runsaga.projects</c>.</summary>
public sealed record ProjectRow(
    string Key,
    string? Title,
    string? Url,
    string? Data,
    string ContentHash,
    string Status,
    string? Error,
    Guid CreatedByRunId,
    Guid LastUpdatedByRunId,
    Guid LastConfirmedRunId,
    string BatchId);

/// <summary>A row of <c>runsaga.project_lineage</c>.</summary>
public sealed record LineageRow(string Key, Guid RunId, string? BatchId, string Change, string? ContentHash);

/// <summary>A row of <c>runsaga.run_lineage</c>: the run's lineage summary.</summary>
public sealed record RunLineageRow(
    Guid RunId, string Source, string ProcessType, int Discovered, int Updated, int Deleted, int Errored, int Unchanged, string[] BatchIds);
