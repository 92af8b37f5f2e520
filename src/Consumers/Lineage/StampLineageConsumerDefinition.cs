using MassTransit;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Lineage;

public sealed class StampLineageConsumerDefinition : ConsumerDefinition<StampLineageConsumer>
{
    public StampLineageConsumerDefinition()
    {
        EndpointName = QueueNames.Lineage;
        ConcurrentMessageLimit = 8;
        Endpoint(e => e.PrefetchCount = 16);
    }

    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<StampLineageConsumer> consumerConfigurator,
        IRegistrationContext context) =>
        endpointConfigurator.UseRunSagaRetry();
}
