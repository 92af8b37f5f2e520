using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RunSaga.Contracts;
using RunSaga.Shared.Hosting;
using RunSaga.Shared.Messaging;

namespace RunSaga.Consumers.Staging;

/// <summary>
/// What runsaga.staging does with a batch it cannot take as it is, before or instead of deserializing it. Each fails the
/// batch's run at once with <see cref="BatchRejected"/> (the code and a reason a person understands) when the body names
/// its run, so that a scraper's mistake does not wait for FLUSH_TIMEOUT:
/// <list type="bullet">
/// <item><see cref="OversizedFilter"/>: a body over MAX_BATCH_BYTES is refused before it is parsed (BATCH_TOO_LARGE),
/// and acknowledged: it is not kept anywhere.</item>
/// <item><see cref="UnreadableFilter"/>: a body that could not be read (bad JSON, a wrongly typed batch field) goes to
/// runsaga.staging_error as before, and its run fails BATCH_UNREADABLE with the reader's reason.</item>
/// <item><see cref="BareBodyFilter"/>: a bare ItemsScraped sent with the envelope's content type, which matches no
/// message type, goes to runsaga.staging_skipped, and its run fails BATCH_UNREADABLE saying what to change.</item>
/// </list>
/// </summary>
public static class BatchReceiveFilters
{
    public const string BatchUnreadable = "BATCH_UNREADABLE";

    public static void UseBatchReceiveFilters(this IReceiveEndpointConfigurator endpoint, IServiceProvider services)
    {
        var reporter = new Reporter(services);
        endpoint.ConfigureReceive(receive => receive.UseFilter(new OversizedFilter(reporter)));
        endpoint.ConfigureError(error => error.UseFilter(new UnreadableFilter(reporter)));
        endpoint.ConfigureDefaultErrorTransport();
        endpoint.ConfigureDeadLetter(deadLetter => deadLetter.UseFilter(new BareBodyFilter(reporter)));
        endpoint.ConfigureDefaultDeadLetterTransport();
    }

    /// <summary>Publishes the rejection (through the bus, so it carries the host's identity) and logs it with the run.</summary>
    private sealed class Reporter(IServiceProvider services)
    {
        private ILogger? logger;

        public RunSagaOptions Options => services.GetRequiredService<Microsoft.Extensions.Options.IOptions<RunSagaOptions>>().Value;

        private ILogger Logger => logger ??= services.GetRequiredService<ILoggerFactory>().CreateLogger("RunSaga.Consumers.Staging.BatchReceiveFilters");

        /// <summary>
        /// Never throws: the filters that call it run outside MassTransit's error handling (before it, or in the dead-letter
        /// pipe), where an exception would send the message back to its queue, over and over. A rejection that cannot be
        /// published is logged; the run then fails FLUSH_INCOMPLETE when its flush times out.
        /// </summary>
        public async Task Reject(ReceiveContext context, string code, string reason)
        {
            try
            {
                await RejectOrThrow(context, code, reason);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Logger.LogError(ex, "Could not publish the rejection of a batch ({Code}: {Reason}); its run fails FLUSH_INCOMPLETE when its flush times out", code, reason);
            }
        }

        private async Task RejectOrThrow(ReceiveContext context, string code, string reason)
        {
            var body = context.Body.GetBytes();
            var (runId, batchId, _) = BatchIdentity.Scan(body);
            if (runId is not { } id || id == Guid.Empty)
            {
                Logger.LogError(
                    "A {Bytes}-byte message on {Queue} names no run: {Reason} ({Code}). No run could be failed; the scraper's run will "
                    + "fail FLUSH_INCOMPLETE when its flush times out", body.Length, context.InputAddress.AbsolutePath.Trim('/'), reason, code);
                return;
            }

            using var scope = RunLogScope.Begin(id, source: null);
            Logger.LogWarning("batch {BatchId} refused whole ({ErrorCode}), nothing of it staged: {Reason}", batchId ?? "(unnamed)", code, reason);
            await services.GetRequiredService<IBus>().Publish(new BatchRejected
            {
                RunId = id,
                BatchId = batchId ?? string.Empty,
                ErrorCode = code,
                ErrorMessage = reason,
            }, context.CancellationToken);
        }
    }

    private sealed class OversizedFilter(Reporter reporter) : IFilter<ReceiveContext>
    {
        public async Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
        {
            var max = reporter.Options.MaxBatchBytes;
            var length = context.Body.Length ?? context.Body.GetBytes().LongLength;
            if (length <= max)
            {
                await next.Send(context);
                return;
            }

            // Not parsed and not passed on: acknowledged and gone (a body this size does not belong in an error queue).
            await reporter.Reject(context, BatchLimits.BatchTooLarge,
                $"the batch is {length} bytes; the limit is {max} bytes (MAX_BATCH_BYTES): split it into smaller batches "
                + "and run the scraper again. The batch was not read, and is not kept.");
        }

        public void Probe(ProbeContext context) => context.CreateFilterScope("oversizedBatch");
    }

    private sealed class UnreadableFilter(Reporter reporter) : IFilter<ExceptionReceiveContext>
    {
        public async Task Send(ExceptionReceiveContext context, IPipe<ExceptionReceiveContext> next)
        {
            if ((BareBody(context) ?? Unreadable(context.Exception)) is { } reason)
            {
                await reporter.Reject(context, BatchUnreadable, reason);
            }

            await next.Send(context);
        }

        public void Probe(ProbeContext context) => context.CreateFilterScope("unreadableBatch");

        /// <summary>The reason, when the exception says the body could not be read (not a database or consumer failure).</summary>
        private static string? Unreadable(Exception exception)
        {
            for (var current = exception; current is not null; current = current.InnerException)
            {
                switch (current)
                {
                    case JsonException json:
                        return "the batch could not be read: " + json.Message
                            + " Every field's JSON type is listed in docs/wire-format.md. The batch is in runsaga.staging_error.";
                    case InvalidMessageException invalid:
                        return invalid.Message + " The batch is in runsaga.staging_error.";
                    case System.Text.DecoderFallbackException:
                        return "the batch is not valid UTF-8 JSON. The batch is in runsaga.staging_error.";
                }
            }

            return exception is System.Runtime.Serialization.SerializationException ? "the batch could not be read: " + exception.Message : null;
        }
    }

    /// <summary>The reason, when the body is a bare ItemsScraped sent with the envelope's content type.</summary>
    private static string? BareBody(ReceiveContext context) =>
        string.Equals(context.ContentType?.MediaType, "application/vnd.masstransit+json", StringComparison.OrdinalIgnoreCase)
        && BatchIdentity.Scan(context.Body.GetBytes()) is { RunId: not null, Bare: true }
            ? "the body is a bare ItemsScraped ({\"runId\": …, \"batchId\": …, \"items\": […]}) but its content type, "
                + "application/vnd.masstransit+json, says it is wrapped in MassTransit's envelope. Either wrap it "
                + "({\"messageType\": [\"urn:message:RunSaga.Contracts:ItemsScraped\"], \"message\": {…}}) or send it with content "
                + "type application/json and the header MT-MessageType: urn:message:RunSaga.Contracts:ItemsScraped "
                + "(docs/wire-format.md). The batch is in the staging queue's _error or _skipped queue."
            : null;

    private sealed class BareBodyFilter(Reporter reporter) : IFilter<ReceiveContext>
    {
        public async Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
        {
            if (BareBody(context) is { } reason)
            {
                await reporter.Reject(context, BatchUnreadable, reason);
            }

            await next.Send(context);
        }

        public void Probe(ProbeContext context) => context.CreateFilterScope("bareBatchBody");
    }
}
