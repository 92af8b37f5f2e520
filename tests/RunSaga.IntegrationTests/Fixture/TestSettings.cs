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

    /// <summary>The AMQP URI of <paramref name="virtualHost"/> on the configured broker, logging in as <paramref name="user"/>.</summary>
    public static Uri RabbitMqFor(string virtualHost, string user, string password)
    {
        var broker = RabbitMq;
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
