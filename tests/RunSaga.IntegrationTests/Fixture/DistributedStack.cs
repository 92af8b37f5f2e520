namespace RunSaga.IntegrationTests.Fixture;

/// <summary>
/// The RunSaga stack on the distributed shape of scripts/lib/cluster.sh: a three-node RabbitMQ cluster (quorum queues
/// on all three, the hosts and the test's publishers connected with the list of nodes) and a PostgreSQL primary with a
/// synchronous standby (the hosts connect to both with <c>Target Session Attributes=primary</c>). The fault campaign runs
/// on it (it kills, stops and partitions broker nodes and fails the database over, which the other specs must not see),
/// and the specs of scrapers connecting to the cluster.
/// The cluster must be up (scripts/test and scripts/chaos start it); a stack that cannot reach it fails loudly.
/// </summary>
public sealed class DistributedStack(IMessageSink diagnostics) : RunSagaStack(diagnostics, StackTopology.Distributed);

/// <summary>The specs that run on the <see cref="DistributedStack"/> (the fault campaign).</summary>
[CollectionDefinition(Name)]
public sealed class DistributedCollection : ICollectionFixture<DistributedStack>
{
    public const string Name = "RunSaga on a broker cluster and a database pair";
}
