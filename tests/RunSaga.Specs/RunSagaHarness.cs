using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using RunSaga.Contracts;
using RunSaga.Orchestrator.Runs;
using RunSaga.Shared.Data;
using RunSaga.Shared.Hosting;

namespace RunSaga.Specs;

/// <summary>
/// One in-memory harness per scenario: the real run state machine and its endpoint definition on the
/// in-memory transport with the in-memory saga repository. Assertions are filtered by run id.
/// </summary>
public abstract class RunSagaHarness : IAsyncLifetime
{
    private ServiceProvider provider = null!;

    protected ITestHarness Harness { get; private set; } = null!;
    protected ISagaStateMachineTestHarness<RunStateMachine, RunState> Saga { get; private set; } = null!;
    protected InMemoryRunLedger Ledger { get; private set; } = null!;

    /// <summary>The saga's clock: it stands still unless a scenario moves it (<c>Clock.Advance</c>).</summary>
    protected FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);
    protected RunStateMachine Machine => Saga.StateMachine;
    protected Guid RunId { get; } = Guid.NewGuid();
    protected string Source { get; } = $"spec-{Guid.NewGuid():N}"[..16];

    /// <summary>FLUSH_TIMEOUT; a scenario lets it pass by moving <see cref="Clock"/>.</summary>
    protected virtual TimeSpan FlushTimeout => TimeSpan.FromMilliseconds(300);

    /// <summary>Long unless a scenario is about the run deadline.</summary>
    protected virtual TimeSpan RunTimeout => TimeSpan.FromHours(1);

    /// <summary>Long unless a scenario is about sending a lost command again.</summary>
    protected virtual TimeSpan ResendAfter => TimeSpan.FromHours(1);

    /// <summary>STAGING_SETTLE: how far a flush verdict moves on when the deadline watcher saw the pipeline behind.</summary>
    protected virtual TimeSpan StagingSettle => TimeSpan.FromSeconds(30);

    public async Task InitializeAsync()
    {
        provider = new ServiceCollection()
            .AddLogging()
            .Configure<RunSagaOptions>(o =>
            {
                o.FlushTimeout = FlushTimeout;
                o.RunTimeout = RunTimeout;
                o.ResendAfter = ResendAfter;
                o.StagingSettle = StagingSettle;
            })
            .AddSingleton(sp => new InMemoryRunLedger(
                () => (sp.GetRequiredService<IQuerySagaRepository<RunState>>(), sp.GetRequiredService<ILoadSagaRepository<RunState>>())))
            .AddSingleton<IRunLedger>(sp => sp.GetRequiredService<InMemoryRunLedger>())
            .AddSingleton<IRunOutbox, ImmediateRunOutbox>()
            .AddSingleton<TimeProvider>(Clock)
            .AddMassTransitTestHarness(x => x.AddSagaStateMachine<RunStateMachine, RunState, RunStateDefinition>())
            .BuildServiceProvider(true);
        Harness = provider.GetRequiredService<ITestHarness>();
        Harness.TestTimeout = TimeSpan.FromSeconds(10);
        await Harness.Start();
        Saga = Harness.GetSagaStateMachineHarness<RunStateMachine, RunState>();
        Ledger = provider.GetRequiredService<InMemoryRunLedger>();
        await Given();
    }

    public async Task DisposeAsync()
    {
        await Bounded(Harness.Stop(), "the in-memory bus to stop (a consumer still running?)");
        await provider.DisposeAsync();
    }

    /// <summary>
    /// The harness's own waits are meant to end by themselves (its test timeout), but a scenario that hangs must fail
    /// and say what it waited for, not hold the whole test run until CI's limit.
    /// </summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static async Task Bounded(Task wait, string what)
    {
        try
        {
            await wait.WaitAsync(Patience);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Waited {Patience.TotalSeconds:0} s for {what}; it did not happen.");
        }
    }

    /// <summary>Waits until the bus has been idle for the harness's inactivity timeout (bounded, see <see cref="Patience"/>).</summary>
    protected Task Idle() => Bounded(Harness.InactivityTask, "the in-memory bus to go idle (something kept it busy)");

    /// <summary>The scenario's preconditions.</summary>
    protected virtual Task Given() => Task.CompletedTask;

    protected Task Publish<T>(T message)
        where T : class => Harness.Bus.Publish(message);

    protected async Task<RunState> RunIn(Func<RunStateMachine, State> state, Guid? runId = null)
    {
        var id = runId ?? RunId;
        var found = await Saga.Exists(id, state, TimeSpan.FromSeconds(5)).WaitAsync(Patience);
        var instance = Saga.Sagas.Contains(id);
        Assert.True(found.HasValue, $"run {id} did not reach {state(Machine).Name}; it is {instance?.CurrentState ?? "absent"}");
        return instance!;
    }

    /// <summary>
    /// Waits until the bus has consumed the given event for this run. Polls, because the harness answers
    /// "no" at once after it has been idle for a moment.
    /// </summary>
    protected async Task<bool> Consumed<T>(Guid? runId = null)
        where T : class
    {
        var id = runId ?? RunId;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (DateTime.UtcNow < deadline)
        {
            if (Harness.Consumed.Select<T>(x => RunIdOf(x.Context.Message) == id).Any())
            {
                return true;
            }

            await Task.Delay(25);
        }

        return false;
    }

    /// <summary>
    /// Whether a matching message was published. The harness answers once the bus has been idle for a moment; on a loaded
    /// machine the saga's outbox may publish after that, so a "no" is confirmed by watching a while longer.
    /// </summary>
    protected async Task<bool> WasPublished<T>(Func<T, bool> match)
        where T : class =>
        await Harness.Published.Any<T>(x => match(x.Context.Message))
        || await Eventually(() => Harness.Published.Select<T>(x => match(x.Context.Message)).Any());

    protected async Task<bool> WasSent<T>(Func<T, bool> match)
        where T : class =>
        await Harness.Sent.Any<T>(x => match(x.Context.Message))
        || await Eventually(() => Harness.Sent.Select<T>(x => match(x.Context.Message)).Any());

    private static async Task<bool> Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (DateTime.UtcNow < deadline)
        {
            if (condition())
            {
                return true;
            }

            await Task.Delay(50);
        }

        return condition();
    }

    protected int CountPublished<T>(Func<T, bool> match)
        where T : class => Harness.Published.Select<T>(x => match(x.Context.Message)).Count();

    protected int CountSent<T>(Func<T, bool> match)
        where T : class => Harness.Sent.Select<T>(x => match(x.Context.Message)).Count();

    // The scenarios' building blocks: what a scraper and RunSaga's consumers would publish.
    protected RunRequested Requested(string? processType = null, string? key = null, Guid? runId = null) =>
        new() { RunId = runId ?? RunId, Source = Source, ProcessType = processType, IdempotencyKey = key, RequestedBy = "specs" };

    protected RunStarted Started(string? processType = null, string? key = null, Guid? runId = null) =>
        new() { RunId = runId ?? RunId, Source = Source, ProcessType = processType, IdempotencyKey = key };

    protected ScrapeCompleted Completed(int items, int batches) => new() { RunId = RunId, TotalItems = items, TotalBatches = batches };

    protected FlushConfirmed Flushed(int items, int batches = 1) =>
        new() { RunId = RunId, StagedItems = items, StagedBatches = batches, BatchIds = Enumerable.Range(1, batches).Select(i => $"b{i}").ToList() };

    /// <param name="lineageRecorded">False: as a promotion consumer from before the lineage summary moved into the promotion answers.</param>
    protected ProjectsUpserted Upserted(bool lineageRecorded = false) =>
        new() { RunId = RunId, Inserted = 3, Updated = 2, Unchanged = 1, Errored = 1, LineageRecorded = lineageRecorded };

    /// <summary>Drives a fresh run to Flushed.</summary>
    protected async Task DriveToFlushed(string? processType = null)
    {
        await Publish(Requested(processType));
        await Publish(Started());
        await RunIn(m => m.Running);
        await Publish(Completed(10, 1));
        await RunIn(m => m.Flushing);
        await Publish(Flushed(10));
        await RunIn(m => m.Flushed);
    }

    /// <summary>Drives a fresh run to Completed: by a promotion that recorded the lineage, or (false) by StampLineage after it.</summary>
    protected async Task DriveToCompleted(bool lineageRecorded = true)
    {
        await DriveToFlushed();
        await Publish(Upserted(lineageRecorded));
        if (!lineageRecorded)
        {
            Assert.True(await WasSent<StampLineage>(m => m.RunId == RunId));
            await Publish(new LineageStamped { RunId = RunId });
        }

        await RunIn(m => m.Completed);
    }

    private static Guid RunIdOf(object message) =>
        (Guid)(message.GetType().GetProperty("RunId")?.GetValue(message) ?? Guid.Empty);
}
