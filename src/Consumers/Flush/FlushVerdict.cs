using MassTransit;
using RunSaga.Contracts;

namespace RunSaga.Consumers.Flush;

/// <summary>
/// What the flush check decided: exactly one of <see cref="Confirmed"/> or <see cref="Failed"/>. Published only
/// after the transaction that decided it has committed; it may be published more than once for a run (the saga
/// ignores repeats), which is what makes a crash between commit and publish recoverable by redelivery.
/// </summary>
public sealed record FlushVerdict
{
    private FlushVerdict(FlushConfirmed? confirmed, FlushFailed? failed)
    {
        Confirmed = confirmed;
        Failed = failed;
    }

    public const string CountMismatch = "COUNT_MISMATCH";

    public FlushConfirmed? Confirmed { get; }
    public FlushFailed? Failed { get; }

    public static FlushVerdict Confirm(FlushConfirmed confirmed) => new(confirmed, null);

    public static FlushVerdict Fail(FlushFailed failed) => new(null, failed);

    public Task PublishAsync(IPublishEndpoint publish, CancellationToken cancellationToken) =>
        Confirmed is not null
            ? publish.Publish(Confirmed, cancellationToken)
            : publish.Publish(Failed!, cancellationToken);
}
