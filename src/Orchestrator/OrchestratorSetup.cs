using MassTransit;
using Serilog;
using RunSaga.Orchestrator.Api;
using RunSaga.Orchestrator.Broker;
using RunSaga.Orchestrator.Database;
using RunSaga.Orchestrator.Deadlines;
using RunSaga.Orchestrator.Health;
using RunSaga.Orchestrator.Observability;
using RunSaga.Orchestrator.Retention;
using RunSaga.Orchestrator.Runs;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;
using RunSaga.Shared.Messaging.Outbox;

namespace RunSaga.Orchestrator;

public static class OrchestratorSetup
{
    public static WebApplicationBuilder AddOrchestrator(this WebApplicationBuilder builder)
    {
        builder.AddRunSagaLogging("orchestrator");
        builder.RefuseDevelopmentCredentials();
        builder.Services
            .AddRunSagaOptions()
            .AddCrashPoint()
            .AddRetentionOptions()
            .AddSingleton(TimeProvider.System)
            .AddRunSagaDatabase(builder.Configuration)
            .AddRunSagaBusHostOptions()
            .AddRunSagaHealthChecks()
            .AddRunSagaApiAccess()
            .AddRunSagaApiProtection()
            .AddRunSagaTelemetry(builder.Configuration)
            .AddOpenApi();
        builder.Services.AddOptions<SourceHealthOptions>().BindConfiguration(string.Empty).ValidateOnStart();
        builder.Services.AddProblemDetails();
        // An item's data may nest 64 levels; inside a response that is deeper than System.Text.Json writes by default.
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.MaxDepth = BusConfiguration.MaxJsonDepth);

        // Registered before the bus so the schema exists before the first message is consumed.
        builder.Services.AddHostedService<MigrationHostedService>();
        builder.Services.AddHostedService<Broker.CommandQueues>();
        var openLineage = builder.Configuration.Get<OpenLineageOptions>() ?? new OpenLineageOptions();
        builder.Services.AddOptions<OpenLineageOptions>().BindConfiguration(string.Empty)
            .Validate(o => !o.Enabled || Uri.TryCreate(o.Url, UriKind.Absolute, out _), "OPENLINEAGE_URL must be an absolute URL (e.g. http://marquez:5000)")
            .ValidateOnStart();
        builder.Services.AddHttpClient(nameof(OpenLineageConsumer), client => client.Timeout = TimeSpan.FromSeconds(10));
        builder.Services.AddMassTransit(bus =>
        {
            bus.AddRunSaga();
            bus.AddConsumer<MetricsConsumer, MetricsConsumerDefinition>();
            if (openLineage.Enabled)
            {
                bus.AddConsumer<OpenLineageConsumer, OpenLineageConsumerDefinition>();
            }

            bus.UsingRunSagaRabbitMq(builder.Configuration);
        });
        builder.Services.AddConsumerWatchdog(openLineage.Enabled
            ? [QueueNames.Runs, QueueNames.Metrics, OpenLineageConsumerDefinition.QueueName]
            : [QueueNames.Runs, QueueNames.Metrics]);
        builder.Services.AddSingleton<StagingBacklog>();
        builder.Services.AddSingleton<DeadLetters>();
        builder.Services.AddOutboxDispatcher();
        builder.Services.AddHostedService<DeadlineWatcher>();
        builder.Services.AddHostedService<RetentionScheduleWatcher>();
        return builder;
    }

    /// <summary>The operator API (see docs/operations.md), its access control and OpenAPI document, and the health endpoints.</summary>
    public static WebApplication MapOrchestrator(this WebApplication app)
    {
        if (app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ApiOptions>>().Value.CorsOrigins.Count > 0)
        {
            app.UseCors();
        }

        app.UseRunSagaSecurityHeaders();

        // A request the API cannot even read (bad JSON, a wrongly typed value) answers 400 with a problem body, never an
        // empty page or a 500 with a stack trace.
        app.UseExceptionHandler();
        app.UseStatusCodePages();

        // The page (wwwroot/index.html at /): static files, no build step; it calls the API with the key it is given.
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.UseSerilogRequestLogging(options =>
            options.EnrichDiagnosticContext = (diagnostics, http) => diagnostics.Set("KeyName", http.User.Identity?.Name ?? "-"));
        app.UseAuthentication();
        app.UseRateLimiter();
        app.UseAuthorization();

        // Explicitly anonymous (docs/security.md): the API's description and the metrics. Everything else needs a key
        // (the fallback policy of AddRunSagaApiAccess); `RunSaga.Orchestrator routes` lists every route with its access.
        app.MapOpenApi().AllowAnonymous();
        app.MapPrometheusScrapingEndpoint("/metrics").AllowAnonymous();
        app.MapRunSagaHealth();
        app.MapRunsApi();
        app.MapOperationsApi();
        app.MapSourcesApi();
        app.MapFleetApi();
        app.MapSearchApi();
        app.MapProjectsApi();
        app.MapAuditApi();
        app.MapErrorsApi();
        app.MapRunEventsApi();
        return app;
    }

    /// <summary>
    /// <c>routes</c>: every endpoint of the app from its routing table, one JSON object per line: methods, route pattern,
    /// and who may call it (<c>anonymous</c>, or the role its policy needs; the fallback policy is the reader's). Builds the
    /// app without starting it: nothing connects anywhere.
    /// </summary>
    public static int RunRoutesCommand(string[] args)
    {
        // Development: the app is only built, and the production guard's refusals (development credentials) do not apply.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, EnvironmentName = Environments.Development });
        if (string.IsNullOrEmpty(builder.Configuration.GetConnectionString("RabbitMq")))
        {
            // Never used: the app is built, not started. Only so that it can be built without a broker's address.
            builder.Configuration["ConnectionStrings:RabbitMq"] = "amqp://routes:unused@localhost:5672/";
        }

        builder.AddOrchestrator();
        var app = builder.Build();
        app.MapOrchestrator();
        var endpoints = ((IEndpointRouteBuilder)app).DataSources.SelectMany(source => source.Endpoints).OfType<RouteEndpoint>();
        foreach (var endpoint in endpoints.OrderBy(e => e.RoutePattern.RawText, StringComparer.Ordinal))
        {
            var methods = endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.IHttpMethodMetadata>()?.HttpMethods ?? ["*"];
            var access = endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Authorization.IAllowAnonymous>() is not null
                ? "anonymous"
                : endpoint.Metadata.GetOrderedMetadata<Microsoft.AspNetCore.Authorization.IAuthorizeData>()
                    .Select(a => a.Policy).LastOrDefault(p => p is not null) ?? Api.ApiRoles.Reader;
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { methods, pattern = endpoint.RoutePattern.RawText, access }));
        }

        return 0;
    }

    /// <summary><c>migrate</c>: apply the migrations and exit (0 on success).</summary>
    public static async Task<int> RunMigrateCommand(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.AddRunSagaLogging("migrate");
        builder.Services.AddRunSagaDatabase(builder.Configuration);
        using var host = builder.Build();
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("RunSaga.Migrate");
        await MigrationRunner.Migrate(host.Services, logger, CancellationToken.None);
        return 0;
    }
}
