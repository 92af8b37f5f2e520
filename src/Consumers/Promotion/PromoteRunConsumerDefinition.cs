using MassTransit;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Promotion;

public sealed class PromoteRunConsumerDefinition : ConsumerDefinition<PromoteRunConsumer>
{
    public PromoteRunConsumerDefinition()
    {
        EndpointName = QueueNames.Promotion;
        // Promotions of one source serialize on the source lock; different sources run side by side.
        ConcurrentMessageLimit = 4;
        Endpoint(e => e.PrefetchCount = 4);
    }

    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<PromoteRunConsumer> consumerConfigurator,
        IRegistrationContext context) =>
        endpointConfigurator.UseRunSagaRetry();
}
