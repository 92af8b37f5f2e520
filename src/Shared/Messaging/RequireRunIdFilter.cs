using System.Reflection;
using MassTransit;

namespace RunSaga.Shared.Messaging;

/// <summary>
/// A message of a run must name it: a <c>runId</c> that is missing (or all zeros) would otherwise be read as the empty
/// id, and the first such message would create a run that every later one without an id joins. This filter refuses
/// the message, so it lands in <c>_error</c> with the reason, before any consumer or the saga sees it.
/// </summary>
public sealed class RequireRunIdFilter<T> : IFilter<ConsumeContext<T>>
    where T : class
{
    private static readonly Func<T, Guid>? RunId = typeof(T).GetProperty("RunId", BindingFlags.Public | BindingFlags.Instance) is { PropertyType: var type } property
        && type == typeof(Guid) && property.GetMethod is { } getter
            ? getter.CreateDelegate<Func<T, Guid>>()
            : null;

    public Task Send(ConsumeContext<T> context, IPipe<ConsumeContext<T>> next)
    {
        if (RunId is not null && RunId(context.Message) == Guid.Empty)
        {
            throw new InvalidMessageException(
                $"{typeof(T).Name} has no runId (or the empty UUID): every message of a run must carry the run's UUID "
                + "in runId, e.g. \"runId\": \"6f0c1c0e-8d7f-4a53-9f3e-0b7f1f0d2c11\". See docs/wire-format.md.");
        }

        return next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("requireRunId");
}
