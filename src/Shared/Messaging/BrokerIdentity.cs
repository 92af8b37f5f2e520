using MassTransit;
using Microsoft.Extensions.Configuration;
using RunSaga.Contracts;

namespace RunSaga.Shared.Messaging;

/// <summary>
/// Who published a message, as RabbitMQ vouches for it. A publisher may set the AMQP <c>user_id</c> property only to
/// the user its connection logged in as (RabbitMQ's validated user id: anything else closes its channel), so a
/// message whose <c>user_id</c> names one of RunSaga's host users was published by that host. RunSaga's hosts set it on
/// everything they send (<see cref="Stamp"/>); consumers refuse commands and host events without it
/// (<see cref="RequireHostPublisherFilter{T}"/>). See docs/security.md.
/// </summary>
public sealed class BrokerIdentity
{
    /// <summary>The built-in names of the hosts' broker users (RABBITMQ_HOST_USERS when it is not set).</summary>
    public const string DefaultHostUsers = "runsaga-orchestrator,runsaga-consumers";

    /// <summary>
    /// The messages a scraper publishes. Anyone with write access to their exchanges may publish them; every other
    /// message type is a command or an event of RunSaga's own hosts.
    /// </summary>
    public static readonly IReadOnlySet<Type> ScraperMessages = new HashSet<Type>
    {
        typeof(RunRequested), typeof(RunStarted), typeof(ItemsScraped), typeof(ScrapeCompleted), typeof(ScrapeFailed),
    };

    public BrokerIdentity(string user, IEnumerable<string> hostUsers)
    {
        User = user;
        HostUsers = new HashSet<string>(hostUsers.Append(user), StringComparer.Ordinal);
    }

    /// <summary>The broker user this host connects as, and stamps on what it publishes.</summary>
    public string User { get; }

    /// <summary>The broker users whose messages this host trusts as RunSaga's own (always including its own).</summary>
    public IReadOnlySet<string> HostUsers { get; }

    /// <summary>From the connection string's user and RABBITMQ_HOST_USERS (comma-separated).</summary>
    public static BrokerIdentity From(IConfiguration configuration)
    {
        var uri = BusConfiguration.RabbitMqUri(configuration);
        var user = Uri.UnescapeDataString(uri.UserInfo.Split(':', 2)[0]);
        if (user.Length == 0)
        {
            // What RabbitMQ.Client logs in as when the URI names no user.
            user = "guest";
        }

        var hostUsers = (configuration["RABBITMQ_HOST_USERS"] is { Length: > 0 } value ? value : DefaultHostUsers)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return new BrokerIdentity(user, hostUsers);
    }

    /// <summary>Sets the AMQP <c>user_id</c> of a message this host sends or publishes to the user it connects as.</summary>
    public void Stamp(SendContext context)
    {
        if (context.TryGetPayload<RabbitMqSendContext>(out var rabbit))
        {
            rabbit.BasicProperties.UserId = User;
        }
    }

    /// <summary>The message's validated publisher (AMQP <c>user_id</c>), or null when it carries none.</summary>
    public static string? PublisherOf(ReceiveContext context) =>
        context.TryGetPayload<RabbitMqBasicConsumeContext>(out var rabbit)
        && rabbit.Properties.IsUserIdPresent() && rabbit.Properties.UserId is { Length: > 0 } userId
            ? userId
            : null;
}

/// <summary>
/// Refuses a command or host event (any message but the scrapers' five) unless RabbitMQ vouches that one of the hosts'
/// users published it: a scraper, or anything else on the broker, cannot make RunSaga promote, delete or release
/// anything. The message lands in <c>_error</c> with the reason, before a consumer or the saga sees it.
/// </summary>
public sealed class RequireHostPublisherFilter<T>(BrokerIdentity identity) : IFilter<ConsumeContext<T>>
    where T : class
{
    private static readonly bool ScraperMessage = BrokerIdentity.ScraperMessages.Contains(typeof(T));

    public Task Send(ConsumeContext<T> context, IPipe<ConsumeContext<T>> next)
    {
        if (!ScraperMessage)
        {
            var publisher = BrokerIdentity.PublisherOf(context.ReceiveContext);
            if (publisher is null || !identity.HostUsers.Contains(publisher))
            {
                throw new InvalidMessageException(
                    $"{typeof(T).Name} refused: only RunSaga's hosts ({string.Join(", ", identity.HostUsers.Order())}) may publish it, "
                    + (publisher is null
                        ? "and this message carries no AMQP user_id. "
                        : $"and RabbitMQ says user '{publisher}' published it. ")
                    + "A scraper publishes only RunRequested, RunStarted, ItemsScraped, ScrapeCompleted and ScrapeFailed; "
                    + "if a RunSaga host sent it, add its broker user to RABBITMQ_HOST_USERS (see docs/security.md).");
            }
        }

        return next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("requireHostPublisher");
}
