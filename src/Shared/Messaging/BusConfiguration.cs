using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace RunSaga.Shared.Messaging;

/// <summary>The RabbitMQ bus both hosts share: connection, serializers, telemetry and endpoint wiring.</summary>
public static class BusConfiguration
{
    /// <summary>
    /// The broker and the user this host logs in as (ConnectionStrings__RabbitMq). There is no default: each host has a
    /// broker user of its own (docs/security.md), and guest is never assumed.
    /// </summary>
    public static Uri RabbitMqUri(IConfiguration configuration) =>
        configuration.GetConnectionString("RabbitMq") is { Length: > 0 } value
            ? new Uri(value)
            : throw new InvalidOperationException(
                "ConnectionStrings__RabbitMq is not set: give this host its own broker user, e.g. "
                + "ConnectionStrings__RabbitMq=amqp://runsaga-orchestrator:<password>@rabbitmq:5672/ (scripts/up does it from "
                + "~/.config/runsaga/credentials.env; see docs/security.md for the users and their permissions).");

    /// <summary>
    /// The nodes of a RabbitMQ cluster (RABBITMQ_NODES: <c>host:port</c> or <c>host</c>, separated by commas), or none
    /// for a single broker. ConnectionStrings__RabbitMq still gives the user, password and virtual host; with nodes, a
    /// host connects to whichever of them answers and moves to another when its node goes away.
    /// </summary>
    public static IReadOnlyList<(string Host, int Port)> RabbitMqNodes(IConfiguration configuration)
    {
        if (configuration["RABBITMQ_NODES"] is not { Length: > 0 } value)
        {
            return [];
        }

        var nodes = new List<(string, int)>();
        foreach (var node in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = node.LastIndexOf(':');
            if (colon < 0)
            {
                nodes.Add((node, RabbitMqUri(configuration).IsDefaultPort ? 5672 : RabbitMqUri(configuration).Port));
            }
            else if (colon > 0 && int.TryParse(node[(colon + 1)..], out var port) && port is > 0 and < 65536)
            {
                nodes.Add((node[..colon], port));
            }
            else
            {
                throw new InvalidOperationException(
                    $"RABBITMQ_NODES holds '{node}', which is not host or host:port; give the cluster's nodes as e.g. rabbit1:5672,rabbit2:5672,rabbit3:5672.");
            }
        }

        return nodes;
    }

    /// <summary>
    /// MassTransit 8.5 reports usage telemetry to an outside host by default. RunSaga turns it off unless an
    /// operator sets <c>MASSTRANSIT_USAGE_TELEMETRY=true</c>.
    /// </summary>
    public static void ApplyTelemetryChoice(this IBusRegistrationConfigurator bus, IConfiguration configuration)
    {
        if (!string.Equals(configuration["MASSTRANSIT_USAGE_TELEMETRY"], "true", StringComparison.OrdinalIgnoreCase))
        {
            bus.DisableUsageTelemetry();
        }
    }

    /// <summary>
    /// A connection of RunSaga's own to the broker (the watchers' probes, the command-queue declaration), named for the
    /// RabbitMQ UI; no automatic recovery: its users reconnect on their next call.
    /// </summary>
    public static Task<RabbitMQ.Client.IConnection> ConnectAsync(IConfiguration configuration, string connectionName, CancellationToken cancellationToken)
    {
        var factory = new RabbitMQ.Client.ConnectionFactory
        {
            Uri = RabbitMqUri(configuration),
            AutomaticRecoveryEnabled = false,
            ClientProvidedName = connectionName,
            RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
        };
        var nodes = RabbitMqNodes(configuration);
        return nodes.Count == 0
            ? factory.CreateConnectionAsync(cancellationToken)
            : factory.CreateConnectionAsync([.. nodes.Select(n => new RabbitMQ.Client.AmqpTcpEndpoint(n.Host, n.Port))], cancellationToken);
    }

    /// <summary>
    /// The type of RunSaga's queues: <c>quorum</c> (the default; replicated, and a message survives a broker crash
    /// on disk) or <c>classic</c> (durable). RabbitMQ cannot change the type of an existing queue: a host that finds
    /// one of the other type stops at start with PRECONDITION_FAILED (see docs/operations.md).
    /// </summary>
    public static string QueueType(IConfiguration configuration) =>
        configuration["RABBITMQ_QUEUE_TYPE"] is { Length: > 0 } value ? value.Trim().ToLowerInvariant() : "quorum";

    public static void UsingRunSagaRabbitMq(this IBusRegistrationConfigurator bus, IConfiguration configuration)
    {
        bus.ApplyTelemetryChoice(configuration);
        var queueType = QueueType(configuration);
        if (queueType is not ("quorum" or "classic"))
        {
            throw new InvalidOperationException($"RABBITMQ_QUEUE_TYPE must be quorum or classic, not '{queueType}'.");
        }

        bus.AddSingleton(BrokerIdentity.From(configuration));
        bus.AddConfigureEndpointsCallback((_, _, endpoint) =>
        {
            if (queueType == "quorum" && endpoint is IRabbitMqReceiveEndpointConfigurator rabbit)
            {
                rabbit.SetQuorumQueue();
            }
        });
        bus.UsingRabbitMq((context, cfg) =>
        {
            var uri = RabbitMqUri(configuration);
            cfg.Host(uri, host =>
            {
                // Split first, then unescape: a password may hold an escaped ':' (%3A).
                var userInfo = uri.UserInfo.Split(':', 2);
                if (userInfo is [{ Length: > 0 } user, var password])
                {
                    host.Username(Uri.UnescapeDataString(user));
                    host.Password(Uri.UnescapeDataString(password));
                }

                host.PublisherConfirmation = true;
                if (RabbitMqNodes(configuration) is { Count: > 0 } nodes)
                {
                    host.UseCluster(cluster =>
                    {
                        foreach (var (name, port) in nodes)
                        {
                            cluster.Node($"{name}:{port}");
                        }
                    });
                }
            });
            cfg.ConfigureRunSagaSerialization(context);
            // Not scoped filters: the outbox dispatcher publishes outside any message's scope.
            var identity = context.GetRequiredService<BrokerIdentity>();
            cfg.ConfigureSend(send => send.UseSendExecute(identity.Stamp));
            cfg.ConfigurePublish(publish => publish.UseExecute(identity.Stamp));
            cfg.UseConsumeFilter(typeof(RequireHostPublisherFilter<>), context);
            cfg.ConfigureEndpoints(context);
        });
    }

    /// <summary>
    /// How deep a message's JSON may nest before it cannot be read at all (System.Text.Json's default is 64). Item data
    /// is limited to 64 levels by the staging rules; reading deeper lets such an item be rejected alone.
    /// </summary>
    public const int MaxJsonDepth = 256;

    /// <summary>
    /// The envelope (application/vnd.masstransit+json) stays the default; plain JSON is accepted only when it
    /// names its type (<see cref="RequireMessageTypeFilter{T}"/>).
    /// </summary>
    public static void ConfigureRunSagaSerialization(this IBusFactoryConfigurator cfg, IRegistrationContext context)
    {
        cfg.ConfigureJsonSerializerOptions(options =>
        {
            options.MaxDepth = MaxJsonDepth;
            return options;
        });
        cfg.UseRawJsonDeserializer(RawSerializerOptions.Default, isDefault: false);
        cfg.UseConsumeFilter(typeof(RequireMessageTypeFilter<>), context);
        cfg.UseConsumeFilter(typeof(RequireRunIdFilter<>), context);
    }

    /// <summary>Waits for the broker at start so a publish never goes to an exchange not yet declared.</summary>
    public static IServiceCollection AddRunSagaBusHostOptions(this IServiceCollection services) =>
        services.Configure<MassTransitHostOptions>(options =>
        {
            options.WaitUntilStarted = true;
            options.StartTimeout = TimeSpan.FromSeconds(60);
            options.StopTimeout = TimeSpan.FromSeconds(30);
        });
}
