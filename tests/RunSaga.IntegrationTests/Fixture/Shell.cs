using System.Diagnostics;

namespace RunSaga.IntegrationTests.Fixture;

/// <summary>Runs a command of the machine (rabbitmqctl, pg_ctlcluster) the way an operator would, and fails loudly.</summary>
public static class Shell
{
    /// <summary>Runs <paramref name="command"/> and returns its standard output; throws with its output when it exits non-zero.</summary>
    public static async Task<string> Run(string command, params string[] arguments)
    {
        var info = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{command} could not be started");
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await error}{await output}");
        }

        return await output;
    }
}
