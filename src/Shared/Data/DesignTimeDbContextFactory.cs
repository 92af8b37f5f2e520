using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace RunSaga.Shared.Data;

/// <summary>Lets <c>dotnet ef migrations add</c> build the model without starting a host.</summary>
internal sealed class DesignTimeDbContextFactory : IDesignTimeDbContextFactory<RunSagaDbContext>
{
    public RunSagaDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<RunSagaDbContext>()
            .UseNpgsql(RunSagaDatabase.DefaultConnectionString, RunSagaDatabase.ConfigureNpgsql)
            .Options);
}
