using Microsoft.EntityFrameworkCore;
using RunSaga.Shared.Data;

namespace RunSaga.Orchestrator.Api;

/// <summary>What the run detail reads besides the run's own row.</summary>
public static class RunQueries
{
    /// <summary>
    /// The run's counts for its detail view: what its retention cycle deleted (<c>run_lineage.deleted</c>), and, for a
    /// run that ended before its flush recorded them (a failed or cancelled run) or has not flushed yet (an open run: how
    /// many of its expected batches are staged so far, what the page's "waiting for 3 of 12 batches" reads), what staging
    /// holds of it now.
    /// </summary>
    public static async Task<RunCounts> DetailCountsAsync(RunSagaDbContext db, RunState run, CancellationToken cancellationToken)
    {
        var deleted = await db.RunLineage.AsNoTracking().Where(l => l.RunId == run.CorrelationId)
            .Select(l => (int?)l.Deleted).FirstOrDefaultAsync(cancellationToken);
        var counts = new RunCounts(run.ExpectedItems, run.ExpectedBatches, run.StagedItems, run.StagedBatches, run.RejectedItems,
            run.Inserted, run.Updated, run.Unchanged, run.Errored, deleted);
        if (run.StagedItems is not null)
        {
            return counts;
        }

        var staged = await db.StagedBatches.AsNoTracking().Where(b => b.RunId == run.CorrelationId)
            .GroupBy(b => b.RunId)
            .Select(g => new { Batches = g.Count(), Items = g.Sum(b => b.StagedCount), Rejected = g.Sum(b => b.RejectedCount) })
            .FirstOrDefaultAsync(cancellationToken);
        return staged is null
            ? counts
            : counts with { StagedItems = staged.Items, StagedBatches = staged.Batches, RejectedItems = staged.Rejected, FromStaging = true };
    }
}
