using MassTransit;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Staging;

public sealed class StageItemsConsumerDefinition : ConsumerDefinition<StageItemsConsumer>
{
    public StageItemsConsumerDefinition()
    {
        EndpointName = QueueNames.Staging;
        // A batch may be up to MAX_BATCH_BYTES (8 MiB by default): prefetch stays small to bound memory.
        ConcurrentMessageLimit = 4;
        Endpoint(e => e.PrefetchCount = 8);
    }

    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<StageItemsConsumer> consumerConfigurator,
        IRegistrationContext context)
    {
        endpointConfigurator.UseBatchItemsDeserializers();
        endpointConfigurator.UseBatchReceiveFilters(context);
        endpointConfigurator.UseRunSagaRetry();
    }
}
