using MassTransit;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Flush;

public sealed class FlushRunConsumerDefinition : ConsumerDefinition<FlushRunConsumer>
{
    public FlushRunConsumerDefinition()
    {
        EndpointName = QueueNames.Flush;
        // Small, short transactions; requests of one run serialize on the run lock anyway.
        ConcurrentMessageLimit = 8;
        Endpoint(e => e.PrefetchCount = 16);
    }

    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<FlushRunConsumer> consumerConfigurator,
        IRegistrationContext context) =>
        endpointConfigurator.UseRunSagaRetry();
}
