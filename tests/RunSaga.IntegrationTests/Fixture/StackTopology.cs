namespace RunSaga.IntegrationTests.Fixture;

/// <summary>
/// Where a <see cref="RunSagaStack"/> finds its broker and database: the single RabbitMQ and PostgreSQL every spec uses
/// (<see cref="Single"/>), or the three-node cluster and the primary with its standby of scripts/lib/cluster.sh
/// (<see cref="Distributed"/>), which the fault campaign kills, stops, partitions and fails over.
/// </summary>
/// <param name="Postgres">The administrator's connection (its database is replaced by the stack's own).</param>
/// <param name="RabbitMq">The AMQP address the stack's users' URIs are made from (the first node of a cluster).</param>
/// <param name="RabbitMqNodes">Every node as host:port (RABBITMQ_NODES of the hosts), or none for a single broker.</param>
/// <param name="Management">The management API of each node.</param>
public sealed record StackTopology(string Postgres, Uri RabbitMq, IReadOnlyList<string> RabbitMqNodes, IReadOnlyList<Uri> Management)
{
    public static StackTopology Single => new(TestSettings.Postgres, TestSettings.RabbitMq, [], [TestSettings.RabbitManagement]);

    public static StackTopology Distributed => new(
        TestSettings.ClusterPostgres,
        new Uri($"amqp://{TestSettings.ClusterAmqpNodes[0]}/"),
        TestSettings.ClusterAmqpNodes,
        TestSettings.ClusterManagement);

    public bool IsCluster => RabbitMqNodes.Count > 1;
}
