using MassTransit;
using RunSaga.Consumers;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;

// The Consumers host: staging, flush checks, promotion and lineage. The run saga lives in the Orchestrator.
var builder = Host.CreateApplicationBuilder(args);

builder.AddRunSagaLogging("consumers");
builder.Services
    .AddRunSagaOptions()
    .AddRunSagaDatabase(builder.Configuration)
    .AddRunSagaBusHostOptions();
builder.Services.AddMassTransit(x =>
{
    x.AddRunSagaConsumers();
    x.UsingRunSagaRabbitMq(builder.Configuration);
});

builder.Build().Run();
