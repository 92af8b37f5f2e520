using System.Reflection;

namespace RunSaga.IntegrationTests.Fixture;

/// <summary>
/// Where the hosts' assemblies are: the repository root (the folder of RunSaga.sln) and the configuration and
/// target framework this test assembly was built with, which `dotnet test` also built the hosts with.
/// </summary>
internal sealed record RepositoryLayout(string Root, string Configuration, string TargetFramework)
{
    public static RepositoryLayout Discover()
    {
        // …/tests/RunSaga.IntegrationTests/bin/<Configuration>/<TargetFramework>/
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var targetFramework = output.Name;
        var configuration = output.Parent?.Parent?.Name == "bin"
            ? output.Parent.Name
            : typeof(RepositoryLayout).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

        var root = output;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "RunSaga.sln")))
        {
            root = root.Parent;
        }

        return root is null
            ? throw new InvalidOperationException($"No RunSaga.sln above {AppContext.BaseDirectory}: cannot find the repository.")
            : new RepositoryLayout(root.FullName, configuration, targetFramework);
    }

    /// <summary>e.g. <c>src/Orchestrator/bin/Debug/net10.0/RunSaga.Orchestrator.dll</c>.</summary>
    public string HostAssembly(string folder, string assemblyName) =>
        Path.Combine(Root, "src", folder, "bin", Configuration, TargetFramework, assemblyName + ".dll");

    public string PythonExample => Path.Combine(Root, "examples", "python", "scraper.py");

    /// <summary>The TypeScript example as <c>npm run build</c> leaves it (scripts/test builds it).</summary>
    public string TypeScriptExample => Path.Combine(Root, "examples", "typescript", "dist", "scraper.js");

    /// <summary>The dotnet muxer running these tests, so the hosts run on the same runtime.</summary>
    public static string Dotnet
    {
        get
        {
            if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
            {
                return hostPath;
            }

            return Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
        }
    }
}
