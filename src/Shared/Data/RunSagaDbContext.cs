using System.Text;
using Microsoft.EntityFrameworkCore;

namespace RunSaga.Shared.Data;

/// <summary>
/// The one database context of RunSaga: the run ledger (the saga's rows), staging, the current-state
/// tables and lineage, all in schema <c>runsaga</c>. Migrations in <c>Migrations/</c> own the schema.
/// </summary>
public sealed class RunSagaDbContext(DbContextOptions<RunSagaDbContext> options) : DbContext(options)
{
    public const string Schema = "runsaga";

    public DbSet<RunState> Runs => Set<RunState>();
    public DbSet<StagedItem> StagedItems => Set<StagedItem>();
    public DbSet<StagedBatch> StagedBatches => Set<StagedBatch>();
    public DbSet<FlushRequest> FlushRequests => Set<FlushRequest>();
    public DbSet<Project> Projects => Set<Project>();
    public DbSet<ProjectLineage> ProjectLineage => Set<ProjectLineage>();
    public DbSet<RunPromotion> RunPromotions => Set<RunPromotion>();
    public DbSet<RunLineage> RunLineage => Set<RunLineage>();
    public DbSet<SourceRetention> SourceRetention => Set<SourceRetention>();
    public DbSet<RetentionCycle> RetentionCycles => Set<RetentionCycle>();
    public DbSet<Schedule> Schedules => Set<Schedule>();

    public DbSet<PollLease> PollLeases => Set<PollLease>();
    public DbSet<RunAudit> RunAudit => Set<RunAudit>();
    public DbSet<ApiAudit> ApiAudit => Set<ApiAudit>();
    public DbSet<OutboxMessage> OutboxMessages => Set<OutboxMessage>();
    public DbSet<RunEvent> RunEvents => Set<RunEvent>();
    public DbSet<DeadLetterAction> DeadLetterActions => Set<DeadLetterAction>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.HasDefaultSchema(Schema);
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(RunSagaDbContext).Assembly);

        // Users query these tables directly, so every column is snake_case.
        foreach (var entity in modelBuilder.Model.GetEntityTypes())
        {
            foreach (var property in entity.GetProperties())
            {
                if (property.GetColumnName() == property.Name)
                {
                    property.SetColumnName(ToSnakeCase(property.Name));
                }
            }
        }
    }

    private static string ToSnakeCase(string name)
    {
        var builder = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                builder.Append('_');
            }

            builder.Append(char.ToLowerInvariant(name[i]));
        }

        return builder.ToString();
    }
}
