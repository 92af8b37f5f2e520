using System.Text.Json;
using System.Text.Json.Nodes;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.Runs;

/// <summary>
/// The run's step records in <c>runs.metrics</c>: one <c>{name, status, started_at, finished_at, error}</c>
/// object per step (<c>flush</c>, <c>promotion</c>, <c>lineage</c>), plus step-specific figures.
/// </summary>
internal static class RunMetrics
{
    public const string Flush = "flush";
    public const string Promotion = "promotion";
    public const string Lineage = "lineage";

    public static void Start(RunState run, string step, DateTime at) =>
        Change(run, step, record =>
        {
            record["status"] = "running";
            record["started_at"] = at;
        });

    public static void Succeed(RunState run, string step, DateTime at, object? figures = null) =>
        Change(run, step, record =>
        {
            record["status"] = "succeeded";
            record["finished_at"] = at;
            if (figures is not null && JsonSerializer.SerializeToNode(figures, SerializerOptions) is JsonObject values)
            {
                foreach (var (name, value) in values)
                {
                    record[name] = value?.DeepClone();
                }
            }
        });

    /// <summary>Marks the step that was running (if any) as failed with the run's error.</summary>
    public static void FailRunningStep(RunState run, DateTime at, string error)
    {
        var steps = Parse(run);
        foreach (var step in steps.OfType<JsonObject>())
        {
            if ((string?)step["status"] == "running")
            {
                step["status"] = "failed";
                step["finished_at"] = at;
                step["error"] = error;
            }
        }

        run.Metrics = steps.ToJsonString();
    }

    private static void Change(RunState run, string step, Action<JsonObject> change)
    {
        var steps = Parse(run);
        var record = steps.OfType<JsonObject>().FirstOrDefault(x => (string?)x["name"] == step);
        if (record is null)
        {
            record = new JsonObject { ["name"] = step, ["status"] = null, ["started_at"] = null, ["finished_at"] = null, ["error"] = null };
            steps.Add(record);
        }

        change(record);
        run.Metrics = steps.ToJsonString();
    }

    private static JsonArray Parse(RunState run) =>
        JsonNode.Parse(string.IsNullOrEmpty(run.Metrics) ? "[]" : run.Metrics) as JsonArray ?? [];

    private static readonly JsonSerializerOptions SerializerOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
