using MassTransit;
using RunSaga.Consumers;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;
using RunSaga.Shared.Messaging.Outbox;

// The Consumers host: staging, flush checks, promotion, lineage and retention. The run saga lives in the Orchestrator.
var builder = Host.CreateApplicationBuilder(args);

builder.AddRunSagaLogging("consumers");
builder.RefuseDevelopmentCredentials();
builder.Services
    .AddRunSagaOptions()
    .AddRetentionOptions()
    .AddRunSagaDatabase(builder.Configuration)
    .AddRunSagaBusHostOptions();
builder.Services.AddMassTransit(x =>
{
    x.AddRunSagaConsumers();
    x.UsingRunSagaRabbitMq(builder.Configuration);
});
builder.Services.AddOutboxDispatcher();
builder.Services.AddConsumerWatchdog(QueueNames.Staging, QueueNames.Flush, QueueNames.Promotion, QueueNames.Lineage, QueueNames.Retention);

builder.Build().Run();
