using System.Net.Mime;
using MassTransit;

namespace RunSaga.Shared.Messaging;

/// <summary>
/// Plain JSON (<c>application/json</c>) carries no message type of its own; MassTransit would hand such a
/// body to every message type the endpoint consumes (every event of the saga). This filter refuses it
/// unless the <c>MT-MessageType</c> header names the type, so it lands in <c>_error</c> with the reason.
/// </summary>
public sealed class RequireMessageTypeFilter<T> : IFilter<ConsumeContext<T>>
    where T : class
{
    public Task Send(ConsumeContext<T> context, IPipe<ConsumeContext<T>> next)
    {
        var contentType = context.ReceiveContext.ContentType;
        if (contentType is not null
            && string.Equals(contentType.MediaType, MediaTypeNames.Application.Json, StringComparison.OrdinalIgnoreCase)
            && !context.ReceiveContext.TransportHeaders.TryGetHeader(MessageHeaders.MessageType, out _))
        {
            throw new InvalidMessageException(
                "A plain JSON body (content type application/json) must name its type in the AMQP header "
                + $"'{MessageHeaders.MessageType}' (e.g. 'urn:message:RunSaga.Contracts:ItemsScraped'), or be sent "
                + "in MassTransit's envelope (application/vnd.masstransit+json). See docs/wire-format.md.");
        }

        return next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("requireMessageType");
}

/// <summary>A message RunSaga refuses to process as it is; never retried.</summary>
public sealed class InvalidMessageException(string message) : Exception(message);
