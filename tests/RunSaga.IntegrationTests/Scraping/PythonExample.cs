using RunSaga.IntegrationTests.Fixture;

namespace RunSaga.IntegrationTests.Scraping;

/// <summary>Runs <c>examples/python/scraper.py</c> (pika) against the test's virtual host, as a user would.</summary>
public static class PythonExample
{
    private static readonly Lazy<string?> MissingReason = new(FindMissingReason);

    /// <summary>Why the example cannot run here (no interpreter, or it cannot import pika); null when it can.</summary>
    public static string? WhyNotRunnable => MissingReason.Value;

    /// <summary>Publishes one run with the example; returns the run id it prints last (<c>run_id=&lt;uuid&gt;</c>).</summary>
    public static Task<Guid> Run(string script, Uri amqp, params string[] arguments) =>
        RunExample(TestSettings.Python, script, amqp, arguments);

    /// <summary>
    /// Runs an example scraper (<paramref name="script"/> with <paramref name="interpreter"/>; the Python and TypeScript
    /// examples take the same options) and returns the run id it prints last.
    /// </summary>
    public static Task<Guid> RunExample(string interpreter, string script, Uri amqp, params string[] arguments) =>
        RunExample(interpreter, script, amqp.ToString(), arguments);

    /// <summary>As above, with the <c>--amqp</c> value as given (several URIs separated by commas for a cluster).</summary>
    public static async Task<Guid> RunExample(string interpreter, string script, string amqp, params string[] arguments)
    {
        var name = Path.GetFileName(script);
        var (exitCode, stdout, stderr) = await Shell.Execute(interpreter, [script, "--amqp", amqp, "--quiet", .. arguments], TimeSpan.FromMinutes(2));
        Assert.True(exitCode == 0, $"{name} exited with {exitCode}.{Environment.NewLine}stdout: {stdout}{Environment.NewLine}stderr: {stderr}");
        var last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? string.Empty;
        Assert.True(last.StartsWith("run_id=", StringComparison.Ordinal) && Guid.TryParse(last["run_id=".Length..], out _),
            $"{name}'s last line should be run_id=<uuid>, was '{last}'. stderr: {stderr}");
        return Guid.Parse(last["run_id=".Length..]);
    }

    private static string? FindMissingReason()
    {
        try
        {
            var (exitCode, _, stderr) = Shell.Execute(TestSettings.Python, ["-c", "import pika"], TimeSpan.FromMinutes(1)).GetAwaiter().GetResult();
            return exitCode == 0
                ? null
                : $"{TestSettings.Python} cannot import pika ({stderr.Trim()}): apt-get install python3-pika, or set RUNSAGA_PYTHON";
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return $"no Python interpreter at {TestSettings.Python} ({ex.Message}): set RUNSAGA_PYTHON";
        }
    }
}

/// <summary>A fact that needs the Python example: skipped, saying why, only when the interpreter cannot import pika.</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute()
    {
        if (PythonExample.WhyNotRunnable is { } reason)
        {
            Skip = reason;
        }
    }
}
