namespace RunSaga.IntegrationTests.Fixture;

/// <summary>
/// Where PostgreSQL and RabbitMQ are: the environment variables the hosts read, with the same defaults. The
/// fixture creates its own database and virtual host next to the ones these name, and never touches theirs.
/// </summary>
internal static class TestSettings
{
    private const string DefaultPostgres = "Host=localhost;Port=5432;Database=runsaga;Username=runsaga;Password=runsaga;SSL Mode=Disable";
    private const string DefaultRabbitMq = "amqp://guest:guest@localhost:5672/";
    private const string DefaultManagement = "http://localhost:15672/";

    public static string Postgres => Read("ConnectionStrings__Postgres") ?? DefaultPostgres;

    public static Uri RabbitMq => new(Read("ConnectionStrings__RabbitMq") ?? DefaultRabbitMq);

    /// <summary>The management plugin's HTTP API (<c>rabbitmq-plugins enable rabbitmq_management</c>).</summary>
    public static Uri RabbitManagement => new(Read("RABBITMQ_MANAGEMENT_URL") ?? DefaultManagement);

    /// <summary>The interpreter for <c>examples/python/scraper.py</c>; it must be able to import pika.</summary>
    public static string Python => Read("RUNSAGA_PYTHON") ?? "/usr/bin/python3";

    /// <summary>The Node.js that runs <c>examples/typescript</c> (scripts/test sets it to the one that built it).</summary>
    public static string Node => Read("RUNSAGA_NODE") ?? "/usr/bin/node";

    /// <summary>The user and password in the AMQP URI, used for the management API too.</summary>
    public static (string User, string Password) RabbitMqCredentials
    {
        get
        {
            var parts = RabbitMq.UserInfo.Split(':', 2);
            return parts is [{ Length: > 0 } user, var password]
                ? (Uri.UnescapeDataString(user), Uri.UnescapeDataString(password))
                : ("guest", "guest");
        }
    }

    /// <summary>The AMQP URI of <paramref name="virtualHost"/> on the configured broker.</summary>
    public static Uri RabbitMqFor(string virtualHost)
    {
        var broker = RabbitMq;
        var userInfo = broker.UserInfo.Length > 0 ? broker.UserInfo + "@" : string.Empty;
        var port = broker.IsDefaultPort ? string.Empty : $":{broker.Port}";
        return new Uri($"{broker.Scheme}://{userInfo}{broker.Host}{port}/{Uri.EscapeDataString(virtualHost)}");
    }

    private static string? Read(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
}
