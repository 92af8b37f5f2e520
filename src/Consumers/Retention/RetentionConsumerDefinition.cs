using MassTransit;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Retention;

public sealed class RetentionConsumerDefinition : ConsumerDefinition<RetentionConsumer>
{
    public RetentionConsumerDefinition()
    {
        EndpointName = QueueNames.Retention;
        // Cycles of different sources may run side by side; one source's cycles serialize on its lock.
        ConcurrentMessageLimit = 2;
    }

    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<RetentionConsumer> consumerConfigurator,
        IRegistrationContext context) =>
        endpointConfigurator.UseRunSagaRetry();
}
