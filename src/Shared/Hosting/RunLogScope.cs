using Serilog.Context;

namespace RunSaga.Shared.Hosting;

/// <summary>Puts the run id and source on every log line written while the scope is open.</summary>
public static class RunLogScope
{
    public static IDisposable Begin(Guid runId, string? source)
    {
        var run = LogContext.PushProperty("RunId", runId);
        var src = LogContext.PushProperty("Source", string.IsNullOrEmpty(source) ? "-" : source);
        return new Both(src, run);
    }

    private sealed class Both(IDisposable first, IDisposable second) : IDisposable
    {
        public void Dispose()
        {
            first.Dispose();
            second.Dispose();
        }
    }
}
