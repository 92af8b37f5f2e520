namespace RunSaga.IntegrationTests.Fixture;

/// <summary>
/// Every spec shares one <see cref="RunSagaStack"/>: starting the hosts once keeps the suite fast. Specs in one
/// collection run one after another, so a spec that kills the Consumers or installs a trigger disturbs no other.
/// </summary>
[CollectionDefinition(Name)]
public sealed class RunSagaCollection : ICollectionFixture<RunSagaStack>
{
    public const string Name = "RunSaga stack";
}
