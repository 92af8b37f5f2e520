using System.Diagnostics;

namespace RunSaga.IntegrationTests.Fixture;

/// <summary>
/// One RunSaga host running as a child process, started as it is deployed: <c>dotnet &lt;host&gt;.dll</c>. The
/// muxer runs the app in its own process, so <see cref="Process.Id"/> is the host itself (no wrapper) and
/// <see cref="Kill"/> is a real <c>kill -9</c> of it. Its output goes to the shared <see cref="HostLog"/>.
/// </summary>
public sealed class HostProcess : IDisposable
{
    private readonly Process process;
    private readonly HostLog log;
    private readonly long startMark;
    private readonly string assemblyPath;

    private HostProcess(Process process, string name, string assemblyPath, HostLog log, long startMark)
    {
        this.process = process;
        this.log = log;
        this.startMark = startMark;
        this.assemblyPath = assemblyPath;
        Name = name;
    }

    /// <summary>The host's tag in the log, e.g. <c>consumers#2</c> for the second Consumers process.</summary>
    public string Name { get; }

    public int Id => process.Id;

    /// <summary>Raised with the exit code when the process ends by itself or is killed.</summary>
    public event Action<int>? Exited
    {
        add => process.Exited += Handler(value);
        remove { }
    }

    public bool IsRunning => !process.HasExited;

    public static HostProcess Start(
        string name,
        string dotnet,
        string assemblyPath,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string> environment,
        HostLog log)
    {
        if (!File.Exists(assemblyPath))
        {
            throw new FileNotFoundException(
                $"The {name} host is not built: {assemblyPath} is missing. `dotnet test` builds it through the test "
                + "project's reference; after `dotnet build` of the test project alone, build the solution.", assemblyPath);
        }

        var info = new ProcessStartInfo(dotnet)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // appsettings.json is read from the content root, the current directory.
            WorkingDirectory = Path.GetDirectoryName(assemblyPath)!,
        };
        info.ArgumentList.Add(assemblyPath);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.Exited += (_, _) => log.Append("fixture", $"{name} (pid {process.Id}) exited with code {process.ExitCode}");
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                log.Append(name, e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                log.Append(name, "stderr: " + e.Data);
            }
        };

        var mark = log.Mark();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        log.Append("fixture", $"started {name} as pid {process.Id}: {dotnet} {string.Join(' ', info.ArgumentList)}");
        return new HostProcess(process, name, assemblyPath, log, mark);
    }

    /// <summary>Waits until this process has written a line containing <paramref name="text"/>; fails if it exits first.</summary>
    public async Task WaitForLogLine(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!log.Contains(startMark, Name, text))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException(
                    $"{Name} exited with code {process.ExitCode} before it logged '{text}'.{Environment.NewLine}{log.Tail(80)}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(
                    $"{Name} did not log '{text}' within {timeout}.{Environment.NewLine}{log.Tail(80)}");
            }

            await Task.Delay(50);
        }
    }

    private EventHandler Handler(Action<int>? exited) => (_, _) => exited?.Invoke(process.ExitCode);

    /// <summary>SIGKILL: no shutdown hook, no ack, no flush runs; exactly what a crash looks like to the others.</summary>
    public void Kill()
    {
        EnsureIsTheHostItself();
        process.Kill(entireProcessTree: false);
        process.WaitForExit();
        log.Append("fixture", $"killed {Name} (pid {process.Id}) with SIGKILL; exit code {process.ExitCode}");
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        process.Dispose();
    }

    /// <summary>The process we would kill must be the one running the host's assembly, not a launcher in front of it.</summary>
    private void EnsureIsTheHostItself()
    {
        var commandLine = File.ReadAllText($"/proc/{process.Id}/cmdline").Replace('\0', ' ');
        if (!commandLine.Contains(Path.GetFileName(assemblyPath), StringComparison.Ordinal))
        {
            throw new InvalidOperationException(
                $"pid {process.Id} runs '{commandLine}', not {Path.GetFileName(assemblyPath)}: killing it would not kill the host.");
        }
    }
}
