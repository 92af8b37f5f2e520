using System.Diagnostics;

namespace RunSaga.IntegrationTests.Fixture;

/// <summary>Runs a program of the machine (rabbitmqctl, a scraper, a crawler) the way an operator would, and fails loudly.</summary>
public static class Shell
{
    /// <summary>How a program ended: its exit code and both streams.</summary>
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string Output => Stdout + Stderr;
    }

    /// <summary>Runs <paramref name="command"/> and returns its standard output; throws with its output when it exits non-zero.</summary>
    public static async Task<string> Run(string command, params string[] arguments)
    {
        var result = await Execute(command, arguments, TimeSpan.FromMinutes(5));
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} exited with {result.ExitCode}: {result.Stderr}{result.Stdout}");
        }

        return result.Stdout;
    }

    /// <summary>
    /// Runs <paramref name="command"/> to its end, whatever its exit code, in <paramref name="workingDirectory"/> (the
    /// test's, when null) with <paramref name="environment"/> added to the test's. A program still running after
    /// <paramref name="timeout"/> is killed with its children, and the test fails with what it wrote so far.
    /// </summary>
    public static async Task<Result> Execute(
        string command, IEnumerable<string> arguments, TimeSpan timeout,
        string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(command)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? string.Empty,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{command} could not be started");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException(
                $"{Path.GetFileName(command)} {string.Join(' ', info.ArgumentList)} did not end within {timeout}; killed.{Environment.NewLine}"
                + $"stdout: {await stdout}{Environment.NewLine}stderr: {await stderr}");
        }

        return new Result(process.ExitCode, await stdout, await stderr);
    }
}
