using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RunSaga.Consumers.Flush;
using RunSaga.Consumers.Lineage;
using RunSaga.Consumers.Promotion;
using RunSaga.Consumers.Retention;
using RunSaga.Consumers.Staging;
using RunSaga.Shared.Hosting;

namespace RunSaga.Consumers;

public static class ConsumersRegistration
{
    /// <summary>
    /// The consumers with their definitions (queue, retry, concurrency), and the SQL classes they use.
    /// Needs the <c>NpgsqlDataSource</c> of <c>AddRunSagaDatabase</c> and the <c>RunSagaOptions</c> and <c>RetentionOptions</c>.
    /// </summary>
    public static IBusRegistrationConfigurator AddRunSagaConsumers(this IBusRegistrationConfigurator x)
    {
        x.TryAddSingleton<BatchStager>();
        x.TryAddSingleton<FlushRequests>();
        x.TryAddSingleton<RunPromoter>();
        x.TryAddSingleton<LineageStamper>();
        x.TryAddSingleton<SourcePruner>();
        x.TryAddSingleton<ArchiveFolder>();
        x.TryAddSingleton<RunArtifacts>();
        x.TryAddSingleton<ArtifactCycle>();
        x.TryAddSingleton(TimeProvider.System);
        x.AddCrashPoint();

        x.AddConsumer<StageItemsConsumer, StageItemsConsumerDefinition>();
        x.AddConsumer<FlushRunConsumer, FlushRunConsumerDefinition>();
        x.AddConsumer<PromoteRunConsumer, PromoteRunConsumerDefinition>();
        x.AddConsumer<StampLineageConsumer, StampLineageConsumerDefinition>();
        x.AddConsumer<RetentionConsumer, RetentionConsumerDefinition>();
        x.AddConsumer<RunCommandsConsumer, RunCommandsConsumerDefinition>();
        return x;
    }
}
