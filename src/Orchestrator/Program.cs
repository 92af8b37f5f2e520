using RunSaga.Orchestrator;

if (args is ["migrate", ..])
{
    return await OrchestratorSetup.RunMigrateCommand(args[1..]);
}

if (args is ["routes", ..])
{
    return OrchestratorSetup.RunRoutesCommand(args[1..]);
}

var builder = WebApplication.CreateBuilder(args);
builder.AddOrchestrator();

var app = builder.Build();
app.MapOrchestrator();
await app.RunAsync();

// Not 0: the consumer watchdog stops the host with exit code 75 (Environment.ExitCode) for its supervisor to restart it.
return Environment.ExitCode;

/// <summary>Entry point, visible to tests that host the Orchestrator.</summary>
public partial class Program;
