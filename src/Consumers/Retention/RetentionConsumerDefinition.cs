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

/// <summary>
/// The run commands share the retention queue (and so its order with the cycles). The endpoint's retry policy is
/// configured once, by <see cref="RetentionConsumerDefinition"/>: a second one here would nest the two.
/// </summary>
public sealed class RunCommandsConsumerDefinition : ConsumerDefinition<RunCommandsConsumer>
{
    public RunCommandsConsumerDefinition()
    {
        EndpointName = QueueNames.Retention;
        ConcurrentMessageLimit = 2;
    }
}
