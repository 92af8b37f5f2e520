using System.Net.Mime;
using System.Text.Json;
using MassTransit;
using MassTransit.Configuration;
using MassTransit.Serialization;

namespace RunSaga.Consumers.Staging;

/// <summary>
/// How the staging endpoint reads a batch: MassTransit reads everything but the items, and the consumer reads the items
/// once, from the bytes as received (<see cref="BatchValidation"/>).
/// <para>
/// On runsaga.staging only, the envelope and plain-JSON deserializers are MassTransit's own behind a splice: the body's
/// <c>items</c> array is found by a forward scan (<see cref="BatchItems.Locate"/>), MassTransit is given the body with
/// <c>[]</c> in its place (so every header, field, type check and error is MassTransit's), and where the items are rides
/// on the receive context for the consumer. A body the scan cannot read is given to MassTransit whole, which fails it as
/// before. The body as received is what the error and skipped queues keep.
/// </para>
/// <para>
/// So <c>context.Message.Items</c> is empty on this endpoint: the consumer reads <see cref="ItemsOf"/>. Anything that sends
/// the consumed message on again (<c>Forward</c>, redelivery) would send it without its items; staging does none of that.
/// </para>
/// </summary>
public static class BatchItemsDeserializer
{
    private static readonly byte[] EmptyArray = "[]"u8.ToArray();

    /// <summary>Replaces, on this endpoint only, the envelope (the default) and plain-JSON deserializers.</summary>
    public static void UseBatchItemsDeserializers(this IReceiveEndpointConfigurator endpoint)
    {
        endpoint.AddDeserializer(new Factory(new SystemTextJsonMessageSerializerFactory(), envelope: true), isDefault: true);
        endpoint.AddDeserializer(new Factory(new SystemTextJsonRawMessageSerializerFactory(RawSerializerOptions.Default), envelope: false));
    }

    /// <summary>Where the items of the message are: as the deserializer found them, or found now.</summary>
    public static BatchItems ItemsOf(ReceiveContext context) =>
        context.TryGetPayload<BatchItems>(out var items)
            ? items
            : context.GetOrAddPayload(() => BatchItems.Locate(context.Body.GetBytes(), IsEnvelope(context.ContentType)));

    /// <summary>Whether MassTransit reads the body as its envelope: the default, for every content type but plain JSON.</summary>
    private static bool IsEnvelope(ContentType? contentType) =>
        contentType is null || !string.Equals(contentType.MediaType, SystemTextJsonRawMessageSerializer.JsonContentType.MediaType, StringComparison.OrdinalIgnoreCase);

    private sealed class Factory(ISerializerFactory inner, bool envelope) : ISerializerFactory
    {
        private readonly Lazy<IMessageDeserializer> deserializer = new(() => new Deserializer(inner.CreateDeserializer(), envelope));

        public ContentType ContentType => inner.ContentType;

        public IMessageSerializer CreateSerializer() => inner.CreateSerializer();

        public IMessageDeserializer CreateDeserializer() => deserializer.Value;
    }

    private sealed class Deserializer(IMessageDeserializer inner, bool envelope) : IMessageDeserializer
    {
        public ContentType ContentType => inner.ContentType;

        public void Probe(ProbeContext context)
        {
            var scope = context.CreateScope("batchItems");
            scope.Add("envelope", envelope);
            inner.Probe(scope);
        }

        public ConsumeContext Deserialize(ReceiveContext receiveContext)
        {
            var body = receiveContext.Body;
            var bytes = body.GetBytes();
            BatchItems? items = null;
            try
            {
                items = BatchItems.Locate(bytes, envelope);
            }
            catch (JsonException)
            {
                // Not JSON RunSaga reads: MassTransit reads the body whole and fails it its usual way.
            }

            if (items is not null)
            {
                receiveContext.AddOrUpdatePayload(() => items, _ => items);
                if (items.Kind == ItemsKind.Array)
                {
                    var spliced = new byte[bytes.Length - items.Length + EmptyArray.Length];
                    bytes.AsSpan(0, items.Start).CopyTo(spliced);
                    EmptyArray.CopyTo(spliced.AsSpan(items.Start));
                    bytes.AsSpan(items.Start + items.Length).CopyTo(spliced.AsSpan(items.Start + EmptyArray.Length));
                    body = new BytesMessageBody(spliced);
                }
            }

            // What MassTransit's own Deserialize(ReceiveContext) does, with the body spliced.
            return new BodyConsumeContext(receiveContext, inner.Deserialize(body, receiveContext.TransportHeaders, receiveContext.InputAddress));
        }

        public SerializerContext Deserialize(MessageBody body, Headers headers, Uri? destinationAddress = null) =>
            inner.Deserialize(body, headers, destinationAddress);

        public MessageBody GetMessageBody(string text) => inner.GetMessageBody(text);
    }
}
