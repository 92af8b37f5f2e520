using System.Diagnostics;
using System.Text.Json;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Api;

/// <summary>The <c>runsaga</c> command line, run as a process against the running stack.</summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_operators_use_the_cli(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    [Fact]
    public async Task Should_list_show_and_trace_runs_as_tables_and_json()
    {
        var source = NewSource("cli");
        var run = await Seed(source, Items.Numbered(3));

        var table = await Cli("reader", "runs", "list", "--source", source);
        var list = await Cli("reader", "runs", "list", "--source", source, "--json");
        var show = await Cli("reader", "runs", "show", run.Id.ToString());
        var sources = await Cli("reader", "sources", "--json");
        var lineage = await Cli("reader", "lineage", source, "item-00001");
        var found = await Cli("reader", "runs", "search", run.Id.ToString(), "--json");
        var hourly = await Cli("reader", "runs", "hourly", "--hours", "2");
        var detail = await Cli("reader", "source", source);
        var noSuchSource = await Cli("reader", "source", $"{source}-never");

        Assert.Equal(0, table.ExitCode);
        Assert.StartsWith("ID", table.Stdout, StringComparison.Ordinal);
        Assert.Contains(run.Id.ToString(), table.Stdout, StringComparison.Ordinal);
        Assert.Equal(run.Id, JsonDocument.Parse(list.Stdout).RootElement.GetProperty("items")[0].GetProperty("id").GetGuid());
        Assert.Contains("Completed", show.Stdout, StringComparison.Ordinal);
        Assert.Contains(JsonDocument.Parse(sources.Stdout).RootElement.EnumerateArray(), s => s.GetProperty("source").GetString() == source);
        Assert.Contains("created", lineage.Stdout, StringComparison.Ordinal);
        Assert.Equal(run.Id, JsonDocument.Parse(found.Stdout).RootElement.GetProperty("items")[0].GetProperty("id").GetGuid());
        Assert.Equal(0, hourly.ExitCode);
        Assert.StartsWith("HOUR", hourly.Stdout, StringComparison.Ordinal);
        Assert.Equal(3, hourly.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length); // the header and two hours
        Assert.Equal(0, detail.ExitCode);
        Assert.Contains(source, detail.Stdout, StringComparison.Ordinal);
        Assert.Contains(run.Id.ToString(), detail.Stdout, StringComparison.Ordinal);
        Assert.Equal(3, noSuchSource.ExitCode);
    }

    [Fact]
    public async Task Should_request_a_run_idempotently_and_steer_its_archive()
    {
        var source = NewSource("cli-steer");
        var run = await Seed(source, Items.Numbered(2));
        var key = $"{source}:once";

        var first = await Cli("operator", "runs", "request", "--source", source, "--idempotency-key", key, "--json");
        var second = await Cli("operator", "runs", "request", "--source", source, "--idempotency-key", key, "--json");
        Assert.Equal((0, 0), (first.ExitCode, second.ExitCode));
        Assert.Equal(JsonDocument.Parse(first.Stdout).RootElement.GetProperty("id").GetGuid(), JsonDocument.Parse(second.Stdout).RootElement.GetProperty("id").GetGuid());

        Assert.Equal(0, (await Cli("operator", "run", "pin", run.Id.ToString(), "--until", DateTimeOffset.UtcNow.AddDays(1).ToString("O"))).ExitCode);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND pinned_until IS NOT NULL", run.Id);
        Assert.Equal(0, (await Cli("operator", "run", "pin", run.Id.ToString())).ExitCode);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND pinned_until IS NULL", run.Id);

        Assert.Equal(0, (await Cli("operator", "retention", "apply", "--source", source, "--dry-run")).ExitCode);
        var download = Path.Combine(Path.GetTempPath(), $"runsaga-cli-{Guid.NewGuid():N}.tar.gz");
        await Stack.HostPublisher.Publish([new Broker.OutgoingMessage("ArchiveRun", new { runId = run.Id, requestedBy = "it" })]);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND archived_at IS NOT NULL", run.Id);
        var saved = await Cli("reader", "archive", "download", run.Id.ToString(), "-o", download);
        Assert.Equal(0, saved.ExitCode);
        Assert.Equal([0x1f, 0x8b], (await File.ReadAllBytesAsync(download)).Take(2));
        File.Delete(download);
    }

    [Fact]
    public async Task Should_cancel_a_running_run_and_exit_5_for_one_that_ended()
    {
        var source = NewSource("cli-cancel");
        var done = await Seed(source, Items.Numbered(2));
        var running = new ScrapeRun(source);
        await Stack.Publisher.Publish([running.Requested(), running.Started()]);
        await Db.WaitForRun(running.RunId, r => r.Status == "Running", "Running");

        var cancelled = await Cli("operator", "runs", "cancel", running.RunId.ToString(), "--reason", "bad input", "--json");
        Assert.Equal(0, cancelled.ExitCode);
        Assert.Equal("Cancelled", JsonDocument.Parse(cancelled.Stdout).RootElement.GetProperty("status").GetString());

        var refused = await Cli("operator", "runs", "cancel", done.Id.ToString());
        Assert.Equal(5, refused.ExitCode);
        Assert.Contains("already ended Completed", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(3, (await Cli("operator", "runs", "cancel", Guid.NewGuid().ToString())).ExitCode);

        // Undelete: a run that is not deleted is refused with exit code 5 and the reason.
        var notDeleted = await Cli("admin", "run", "undelete", done.Id.ToString());
        Assert.Equal(5, notDeleted.ExitCode);
        Assert.Contains("not deleted", notDeleted.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_exit_with_codes_scripts_can_rely_on()
    {
        Assert.Equal(3, (await Cli("reader", "runs", "show", Guid.NewGuid().ToString())).ExitCode);
        Assert.Equal(4, (await Cli(null, "runs", "list")).ExitCode);
        Assert.Equal(4, (await Cli("reader", "run", "delete", Guid.NewGuid().ToString(), "--reason", "x")).ExitCode);
        Assert.Equal(2, (await Cli("reader", "runs", "show", "not-a-guid")).ExitCode);
        Assert.Equal(2, (await Cli("admin", "run", "delete", Guid.NewGuid().ToString())).ExitCode);
        var unreachable = await Cli("reader", ["runs", "list"], "http://127.0.0.1:9/");
        Assert.Equal(6, unreachable.ExitCode);
        Assert.Contains("cannot reach", unreachable.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_list_and_show_dead_letters_and_exit_3_for_a_queue_that_is_not_one()
    {
        var runId = Guid.NewGuid();
        await Faults.HostileInput.PublishAsync(Publisher, Faults.HostileInput.Kind.WrongType, runId);
        await Eventually(async () => (await Cli("reader", "errors", "show", "runsaga.runs_error", "--limit", "500", "--json")).Stdout.Contains(runId.ToString(), StringComparison.Ordinal),
            "runsaga errors show lists the failed ScrapeCompleted", pollInterval: TimeSpan.FromSeconds(1));

        var list = await Cli("reader", "errors", "list");
        Assert.Equal(0, list.ExitCode);
        Assert.Contains("runsaga.runs_error", list.Stdout, StringComparison.Ordinal);
        var table = await Cli("reader", "errors", "show", "runsaga.runs_error", "--limit", "500");
        Assert.Equal(0, table.ExitCode);
        Assert.Contains(table.Stdout.Split('\n'), line => line.Contains(runId.ToString(), StringComparison.Ordinal) && line.Contains("ScrapeCompleted", StringComparison.Ordinal));
        Assert.Equal(3, (await Cli("reader", "errors", "show", "runsaga.nothing_error")).ExitCode);

        // Replay needs an operator, discard an admin and a reason; unknown messages exit 3, a replay naming none exits 5.
        var letters = JsonDocument.Parse((await Cli("reader", "errors", "show", "runsaga.runs_error", "--limit", "500", "--json")).Stdout).RootElement;
        var messageId = letters.EnumerateArray().First(m => m.GetProperty("runId").ValueKind == JsonValueKind.String && m.GetProperty("runId").GetGuid() == runId)
            .GetProperty("messageId").GetString()!;
        Assert.Equal(4, (await Cli("reader", "errors", "replay", "runsaga.runs_error", "--message-id", messageId)).ExitCode);
        Assert.Equal(4, (await Cli("operator", "errors", "discard", "runsaga.runs_error", messageId, "--reason", "unreadable")).ExitCode);
        Assert.Equal(2, (await Cli("admin", "errors", "discard", "runsaga.runs_error", messageId)).ExitCode);
        Assert.Equal(3, (await Cli("admin", "errors", "discard", "runsaga.runs_error", Guid.NewGuid().ToString(), "--reason", "x")).ExitCode);
        Assert.Equal(5, (await Cli("operator", "errors", "replay", "runsaga.runs_error")).ExitCode);

        // Replayed, the unreadable message fails again and comes back; then an admin discards it.
        var replay = await Cli("operator", "errors", "replay", "runsaga.runs_error", "--message-id", messageId);
        Assert.True(replay.ExitCode == 0, replay.Stderr);
        Assert.Contains("1 message replayed to runsaga.runs", replay.Stdout, StringComparison.Ordinal);
        await Eventually(async () => (await Cli("reader", "errors", "show", "runsaga.runs_error", "--limit", "500", "--json")).Stdout.Contains(messageId, StringComparison.Ordinal),
            "the replayed message failed again and is back in runsaga.runs_error", pollInterval: TimeSpan.FromSeconds(1));
        var discard = await Cli("admin", "errors", "discard", "runsaga.runs_error", messageId, "--reason", "the scraper sent a string for totalItems");
        Assert.True(discard.ExitCode == 0, discard.Stderr);
        Assert.Contains("1 message discarded from runsaga.runs_error", discard.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(messageId, (await Cli("reader", "errors", "show", "runsaga.runs_error", "--limit", "500", "--json")).Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_print_a_run_s_history_and_exit_3_for_an_unknown_run()
    {
        var run = new ScrapeRun(NewSource("cli-events"));
        await CompleteRun(run, Items.Numbered(4).InBatches(2));
        var events = await Cli("reader", "runs", "events", run.RunId.ToString());
        Assert.True(events.ExitCode == 0, events.Stderr);
        Assert.Contains(events.Stdout.Split('\n'), line => line.Contains("ScrapeCompleted", StringComparison.Ordinal)
            && line.Contains("Running", StringComparison.Ordinal) && line.Contains("Flushing", StringComparison.Ordinal));
        Assert.Contains("batches: 2 staged, 4 items", events.Stdout, StringComparison.Ordinal);
        Assert.Equal(3, (await Cli("reader", "runs", "events", Guid.NewGuid().ToString())).ExitCode);
        Assert.Equal(5, (await Cli("reader", "runs", "events", run.RunId.ToString(), "--limit", "0")).ExitCode);
        Assert.Equal(4, (await Cli(null, "runs", "events", run.RunId.ToString())).ExitCode);
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> Cli(string? role, params string[] arguments) => Cli(role, arguments, null);

    private async Task<(int ExitCode, string Stdout, string Stderr)> Cli(string? role, string[] arguments, string? url)
    {
        var info = new ProcessStartInfo(RepositoryLayout.Dotnet)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(Stack.CliAssembly);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["RUNSAGA_URL"] = url ?? Stack.OrchestratorUrl.ToString();
        info.Environment.Remove("RUNSAGA_API_KEY");
        if (role is not null)
        {
            info.Environment["RUNSAGA_API_KEY"] = Stack.ApiKeys[role];
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        var result = (process.ExitCode, await stdout, await stderr);
        Output.WriteLine($"runsaga {string.Join(' ', arguments)} → {result.ExitCode}{Environment.NewLine}{result.Item2}{result.Item3}");
        return result;
    }
}
