using System.Text.RegularExpressions;
using RunSaga.IntegrationTests.Fixture;

namespace RunSaga.IntegrationTests.Broker;

/// <summary>One role of <c>deploy/rabbitmq/permissions</c>: its tags and permission regexes.</summary>
public sealed record BrokerRole(string Role, string Tags, string Configure, string Write, string Read);

/// <summary>A broker user of a test stack, and its AMQP URI on the stack's virtual host.</summary>
public sealed record BrokerUser(string Name, string Password, Uri Amqp);

/// <summary>
/// The broker users of one test stack, made exactly as the shipped permissions file says (the same file
/// scripts/lib/services.sh applies): a scraper, the Orchestrator and the Consumers, each with a random password.
/// </summary>
public sealed class BrokerUsers
{
    private BrokerUsers(BrokerUser scraper, BrokerUser orchestrator, BrokerUser consumers)
    {
        Scraper = scraper;
        Orchestrator = orchestrator;
        Consumers = consumers;
    }

    public BrokerUser Scraper { get; }

    public BrokerUser Orchestrator { get; }

    public BrokerUser Consumers { get; }

    public IEnumerable<BrokerUser> All => [Scraper, Orchestrator, Consumers];

    /// <summary>The roles of <c>deploy/rabbitmq/permissions</c> (whitespace-separated columns, # comments).</summary>
    public static IReadOnlyDictionary<string, BrokerRole> ReadRoles(string repositoryRoot)
    {
        var path = Path.Combine(repositoryRoot, "deploy", "rabbitmq", "permissions");
        var roles = File.ReadLines(path)
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => Regex.Split(line, @"\s+"))
            .Select(columns => columns.Length == 5
                ? new BrokerRole(columns[0], columns[1] == "-" ? string.Empty : columns[1], columns[2], columns[3], columns[4])
                : throw new InvalidOperationException($"{path}: a role line needs 5 columns: {string.Join(' ', columns)}"))
            .ToDictionary(role => role.Role);
        foreach (var role in new[] { "scraper", "orchestrator", "consumers" })
        {
            if (!roles.ContainsKey(role))
            {
                throw new InvalidOperationException($"{path} has no '{role}' line.");
            }
        }

        return roles;
    }

    public static async Task<BrokerUsers> Create(RabbitManagement management, string virtualHost, string prefix, string repositoryRoot, Uri broker)
    {
        var roles = ReadRoles(repositoryRoot);

        async Task<BrokerUser> CreateOne(string role)
        {
            var spec = roles[role];
            var name = $"{prefix}-{role}";
            var password = Guid.NewGuid().ToString("N");
            await management.CreateUser(name, password, spec.Tags);
            await management.SetPermissions(virtualHost, name, spec.Configure, spec.Write, spec.Read);
            return new BrokerUser(name, password, TestSettings.RabbitMqFor(broker, virtualHost, name, password));
        }

        return new BrokerUsers(await CreateOne("scraper"), await CreateOne("orchestrator"), await CreateOne("consumers"));
    }

    public async Task Delete(RabbitManagement management)
    {
        foreach (var user in All)
        {
            await management.DeleteUser(user.Name);
        }
    }
}
