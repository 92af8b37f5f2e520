namespace RunSaga.IntegrationTests.Fixture;

/// <summary>
/// Where PostgreSQL and RabbitMQ are: the environment variables the hosts read, with the same defaults. The
/// fixture creates its own database and virtual host next to the ones these name, and never touches theirs.
/// </summary>
internal static class TestSettings
{
    private const string DefaultPostgres = "Host=localhost;Port=5432;Database=runsaga;Username=runsaga;Password=runsaga;SSL Mode=Disable";
    private const string DefaultRabbitMq = "amqp://localhost:5672/";
    private const string DefaultManagement = "http://localhost:15672/";

    public static string Postgres => Read("ConnectionStrings__Postgres") ?? DefaultPostgres;

    public static Uri RabbitMq => new(Read("ConnectionStrings__RabbitMq") ?? DefaultRabbitMq);

    /// <summary>The management plugin's HTTP API (<c>rabbitmq-plugins enable rabbitmq_management</c>).</summary>
    public static Uri RabbitManagement => new(Read("RABBITMQ_MANAGEMENT_URL") ?? DefaultManagement);

    /// <summary>The interpreter for <c>examples/python/scraper.py</c>; it must be able to import pika.</summary>
    public static string Python => Read("RUNSAGA_PYTHON") ?? "/usr/bin/python3";

    /// <summary>The Node.js that runs <c>examples/typescript</c> (scripts/test sets it to the one that built it).</summary>
    public static string Node => Read("RUNSAGA_NODE") ?? "/usr/bin/node";

    /// <summary>
    /// The broker's administrator (tag <c>administrator</c>), which creates each stack's virtual host and users and reads
    /// its queues: RABBITMQ_ADMIN_USER / RABBITMQ_ADMIN_PASSWORD, else what scripts/lib/services.sh wrote to
    /// <c>~/.config/runsaga/credentials.env</c>. Never guest.
    /// </summary>
    public static (string User, string Password) RabbitMqAdmin
    {
        get
        {
            var user = Read("RABBITMQ_ADMIN_USER") ?? LocalCredential("RABBITMQ_ADMIN_USER");
            var password = Read("RABBITMQ_ADMIN_PASSWORD") ?? LocalCredential("RABBITMQ_ADMIN_PASSWORD");
            return user is not null && password is not null
                ? (user, password)
                : throw new InvalidOperationException(
                    "No RabbitMQ administrator: set RABBITMQ_ADMIN_USER and RABBITMQ_ADMIN_PASSWORD, or run scripts/test "
                    + "(it creates runsaga-admin and writes ~/.config/runsaga/credentials.env).");
        }
    }

    /// <summary>
    /// The three-node RabbitMQ cluster of scripts/lib/cluster.sh (RUNSAGA_CLUSTER_AMQP_NODES, host:port by commas): the
    /// campaign's broker. The management API of each node is RUNSAGA_CLUSTER_MANAGEMENT_URLS (by commas).
    /// </summary>
    public static IReadOnlyList<string> ClusterAmqpNodes =>
        (Read("RUNSAGA_CLUSTER_AMQP_NODES") ?? "localhost:5701,localhost:5702,localhost:5703").Split(',', StringSplitOptions.TrimEntries);

    public static IReadOnlyList<Uri> ClusterManagement =>
        [.. (Read("RUNSAGA_CLUSTER_MANAGEMENT_URLS") ?? "http://localhost:15701/,http://localhost:15702/,http://localhost:15703/")
            .Split(',', StringSplitOptions.TrimEntries).Select(u => new Uri(u))];

    /// <summary>The RabbitMQ node names of the cluster, in the order of <see cref="ClusterAmqpNodes"/> (for rabbitmqctl -n).</summary>
    public static IReadOnlyList<string> ClusterRabbitNodes =>
        (Read("RUNSAGA_CLUSTER_RABBIT_NODES") ?? string.Join(',', Enumerable.Range(1, 3).Select(i => $"runsaga-c{i}@{ShortHostName}"))).Split(',', StringSplitOptions.TrimEntries);

    /// <summary>
    /// The PostgreSQL primary and synchronous standby of scripts/lib/cluster.sh, as the hosts reach them: both hosts,
    /// <c>Target Session Attributes=primary</c>; the administrator's user and password are the single cluster's.
    /// </summary>
    public static string ClusterPostgres =>
        Read("RUNSAGA_CLUSTER_POSTGRES")
        ?? new Npgsql.NpgsqlConnectionStringBuilder(Postgres)
        {
            Host = "127.0.0.1:5441,127.0.0.1:5442",
            TargetSessionAttributes = "primary",
            HostRecheckSeconds = 2,
        }.ConnectionString;

    /// <summary>The pair's Debian clusters (version/name), in the order of the hosts in <see cref="ClusterPostgres"/>.</summary>
    public static IReadOnlyList<string> ClusterPostgresClusters =>
        (Read("RUNSAGA_CLUSTER_PG_CLUSTERS") ?? "15/runsaga-a,15/runsaga-b").Split(',', StringSplitOptions.TrimEntries);

    private static string ShortHostName => Environment.MachineName.Split('.')[0];

    /// <summary>The AMQP URI of <paramref name="virtualHost"/> on the configured broker, logging in as <paramref name="user"/>.</summary>
    public static Uri RabbitMqFor(string virtualHost, string user, string password) => RabbitMqFor(RabbitMq, virtualHost, user, password);

    /// <summary>The AMQP URI of <paramref name="virtualHost"/> on <paramref name="broker"/>, logging in as <paramref name="user"/>.</summary>
    public static Uri RabbitMqFor(Uri broker, string virtualHost, string user, string password)
    {
        var port = broker.IsDefaultPort ? string.Empty : $":{broker.Port}";
        return new Uri($"{broker.Scheme}://{Uri.EscapeDataString(user)}:{Uri.EscapeDataString(password)}@{broker.Host}{port}/{Uri.EscapeDataString(virtualHost)}");
    }

    /// <summary>A value of the machine's credentials file (KEY=value lines; RUNSAGA_CREDENTIALS_FILE, else ~/.config/runsaga/credentials.env), or null.</summary>
    private static string? LocalCredential(string key)
    {
        var file = CredentialsFile;
        if (!File.Exists(file))
        {
            return null;
        }

        return File.ReadLines(file)
            .Select(line => line.Split('=', 2))
            .Where(parts => parts.Length == 2 && parts[0].Trim() == key)
            .Select(parts => parts[1].Trim())
            .LastOrDefault();
    }

    /// <summary>Where scripts/lib/services.sh keeps the machine's generated passwords.</summary>
    public static string CredentialsFile =>
        Read("RUNSAGA_CREDENTIALS_FILE")
        ?? Path.Combine(Read("XDG_CONFIG_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config"), "runsaga", "credentials.env");

    private static string? Read(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
}
