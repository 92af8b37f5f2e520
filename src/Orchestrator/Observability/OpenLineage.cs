using System.Net.Http.Json;
using System.Text.Json.Serialization;
using MassTransit;
using RunSaga.Contracts;

namespace RunSaga.Orchestrator.Observability;

/// <summary>Where OpenLineage events go: <c>OPENLINEAGE_URL</c> (e.g. Marquez's <c>http://marquez:5000</c>); unset turns them off.</summary>
public sealed class OpenLineageOptions
{
    [Microsoft.Extensions.Configuration.ConfigurationKeyName("OPENLINEAGE_URL")]
    public string? Url { get; set; }

    /// <summary>The namespace of the jobs (one per source) and of the <c>projects</c> datasets.</summary>
    [Microsoft.Extensions.Configuration.ConfigurationKeyName("OPENLINEAGE_NAMESPACE")]
    public string Namespace { get; set; } = "runsaga";

    public bool Enabled => !string.IsNullOrWhiteSpace(Url);
}

/// <summary>
/// Emits an OpenLineage <c>RunEvent</c> for every run: START on <see cref="RunStarted"/>, COMPLETE on
/// <see cref="RunCompleted"/> (with the run's counts as output statistics), FAIL on <see cref="RunFailed"/> (ABORT when
/// the run was cancelled, error code CANCELLED).
/// job = the source, run id = the run id, output dataset = the source's <c>projects</c>. It runs on its own queue
/// (<c>runsaga.openlineage</c>) with its own retries, so a receiver that is down delays only these events, never a
/// run; after the retries an event waits in <c>runsaga.openlineage_error</c>.
/// </summary>
public sealed class OpenLineageConsumer(IHttpClientFactory http, Microsoft.Extensions.Options.IOptions<OpenLineageOptions> options, TimeProvider clock) :
    IConsumer<RunStarted>,
    IConsumer<RunCompleted>,
    IConsumer<RunFailed>
{
    public const string Producer = "https://github.com/runsaga/runsaga";
    private const string RunEventSchema = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
    private const string OutputStatisticsSchema = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet";
    private const string ErrorMessageSchema = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";

    public Task Consume(ConsumeContext<RunStarted> context) =>
        SendAsync("START", context.Message.RunId, context.Message.Source, output: null, runFacets: null, context.CancellationToken);

    public Task Consume(ConsumeContext<RunCompleted> context)
    {
        var m = context.Message;
        var statistics = new Dictionary<string, object>
        {
            ["_producer"] = Producer,
            ["_schemaURL"] = OutputStatisticsSchema,
            ["rowCount"] = m.Inserted + m.Updated + m.Unchanged + m.Errored,
        };
        var counts = new Dictionary<string, object>
        {
            ["_producer"] = Producer,
            ["_schemaURL"] = $"{Producer}/blob/main/docs/operations.md#openlineage",
            ["inserted"] = m.Inserted,
            ["updated"] = m.Updated,
            ["unchanged"] = m.Unchanged,
            ["errored"] = m.Errored,
        };
        return SendAsync("COMPLETE", m.RunId, m.Source,
            new Dictionary<string, object> { ["outputStatistics"] = statistics, ["runsaga_counts"] = counts }, runFacets: null, context.CancellationToken);
    }

    public Task Consume(ConsumeContext<RunFailed> context) =>
        SendAsync(context.Message.ErrorCode == Runs.ErrorCodes.Cancelled ? "ABORT" : "FAIL", context.Message.RunId, context.Message.Source, output: null,
            new Dictionary<string, object>
            {
                ["errorMessage"] = new Dictionary<string, object>
                {
                    ["_producer"] = Producer,
                    ["_schemaURL"] = ErrorMessageSchema,
                    ["message"] = $"{context.Message.ErrorCode}: {context.Message.ErrorMessage}",
                    ["programmingLanguage"] = "scraper",
                },
            },
            context.CancellationToken);

    private async Task SendAsync(
        string eventType, Guid runId, string? source, Dictionary<string, object>? output, Dictionary<string, object>? runFacets, CancellationToken cancellationToken)
    {
        var ns = options.Value.Namespace;
        var job = string.IsNullOrEmpty(source) ? "unidentified" : source;
        var runEvent = new RunEvent(
            eventType,
            clock.GetUtcNow(),
            new LineageRun(runId, runFacets ?? []),
            new LineageJob(ns, job),
            [],
            [new LineageDataset(ns, $"{job}.projects", output ?? [])],
            Producer,
            RunEventSchema);
        var client = http.CreateClient(nameof(OpenLineageConsumer));
        using var response = await client.PostAsJsonAsync(new Uri(new Uri(options.Value.Url!.TrimEnd('/') + "/"), "api/v1/lineage"), runEvent, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"OpenLineage receiver at {options.Value.Url} answered {(int)response.StatusCode} to the {eventType} event of run {runId}");
        }
    }

    private sealed record RunEvent(
        string EventType, DateTimeOffset EventTime, LineageRun Run, LineageJob Job, LineageDataset[] Inputs, LineageDataset[] Outputs,
        string Producer, [property: JsonPropertyName("schemaURL")] string SchemaUrl);

    private sealed record LineageRun(Guid RunId, Dictionary<string, object> Facets);

    private sealed record LineageJob(string Namespace, string Name);

    private sealed record LineageDataset(string Namespace, string Name, Dictionary<string, object> OutputFacets);
}

public sealed class OpenLineageConsumerDefinition : ConsumerDefinition<OpenLineageConsumer>
{
    public const string QueueName = "runsaga.openlineage";

    public OpenLineageConsumerDefinition() => EndpointName = QueueName;

    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<OpenLineageConsumer> consumerConfigurator, IRegistrationContext context) =>
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(
            TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60)));
}
