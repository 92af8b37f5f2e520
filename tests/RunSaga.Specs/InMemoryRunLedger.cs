using MassTransit;
using MassTransit.Saga;
using RunSaga.Orchestrator.Runs;
using RunSaga.Shared.Data;

namespace RunSaga.Specs;

/// <summary>
/// <see cref="IRunLedger"/> over the in-memory saga repository, for the state machine's specs; the PostgreSQL ledger is
/// exercised by the integration specs. <see cref="Promoted"/> stands for <c>run_promotions</c>. (Not the harness's saga
/// list: its queries wait for the bus to go idle, which it never does while a message is being consumed.)
/// </summary>
public sealed class InMemoryRunLedger(Func<(IQuerySagaRepository<RunState> Query, ILoadSagaRepository<RunState> Load)> repository) : IRunLedger
{
    public HashSet<Guid> Promoted { get; } = [];

    public async Task<KeyStanding> KeyStandingAsync(string idempotencyKey, Guid runId, DateTime createdAt, CancellationToken cancellationToken)
    {
        var (query, load) = repository();
        var ids = await query.Find(new SagaQuery<RunState>(r => r.IdempotencyKey == idempotencyKey && r.CorrelationId != runId && r.DuplicateOf == null));
        var runs = new List<RunState>();
        foreach (var id in ids)
        {
            runs.Add(await load.Load(id));
        }

        runs = [.. runs.OrderByDescending(r => r.CreatedAt)];
        var holder = runs.FirstOrDefault(r => !RunStatus.EndedUnfinished(r.Status));
        var last = runs.FirstOrDefault(r => RunStatus.EndedUnfinished(r.Status) && r.CreatedAt <= createdAt);
        return new KeyStanding(
            holder is null ? null : new KeyHolder(holder.CorrelationId, holder.Source, holder.Status),
            last is null ? null : (last.CorrelationId, last.Attempt));
    }

    public Task<bool> HoldPromotionsAndCheckAsync(Guid runId, string source, CancellationToken cancellationToken) =>
        Task.FromResult(Promoted.Contains(runId));
}
