namespace RunSaga.Consumers.Tests.Infrastructure;

/// <summary>
/// The local RabbitMQ as its administrator: RABBITMQ_ADMIN_USER / RABBITMQ_ADMIN_PASSWORD, else what
/// scripts/lib/services.sh wrote to <c>~/.config/runsaga/credentials.env</c>; host and port from ConnectionStrings__RabbitMq
/// (default localhost:5672). Never guest.
/// </summary>
public static class LocalBroker
{
    public static Uri AdminUri
    {
        get
        {
            var user = Read("RABBITMQ_ADMIN_USER");
            var password = Read("RABBITMQ_ADMIN_PASSWORD");
            if (user is null || password is null)
            {
                throw new InvalidOperationException(
                    "No RabbitMQ administrator: set RABBITMQ_ADMIN_USER and RABBITMQ_ADMIN_PASSWORD, or run scripts/test "
                    + "(it creates runsaga-admin and writes ~/.config/runsaga/credentials.env).");
            }

            var broker = new Uri(Environment.GetEnvironmentVariable("ConnectionStrings__RabbitMq") is { Length: > 0 } uri ? uri : "amqp://localhost:5672/");
            var port = broker.IsDefaultPort ? 5672 : broker.Port;
            return new Uri($"amqp://{Uri.EscapeDataString(user)}:{Uri.EscapeDataString(password)}@{broker.Host}:{port}/");
        }
    }

    private static string? Read(string key)
    {
        if (Environment.GetEnvironmentVariable(key) is { Length: > 0 } value)
        {
            return value;
        }

        var file = Environment.GetEnvironmentVariable("RUNSAGA_CREDENTIALS_FILE") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetEnvironmentVariable("XDG_CONFIG_HOME") is { Length: > 0 } xdg
                ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config"), "runsaga", "credentials.env");
        return File.Exists(file)
            ? File.ReadLines(file).Select(line => line.Split('=', 2))
                .Where(parts => parts.Length == 2 && parts[0].Trim() == key)
                .Select(parts => parts[1].Trim()).LastOrDefault()
            : null;
    }
}
