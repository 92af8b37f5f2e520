using System.CommandLine;
using System.Text.Json;
using RunSaga.Cli;

// runsaga: the operator's command line over the RunSaga HTTP API. Exit codes: see ExitCodes.
var url = new Option<string>("--url")
{
    Description = "The Orchestrator's address (default: $RUNSAGA_URL, else http://127.0.0.1:5080)",
    DefaultValueFactory = _ => Environment.GetEnvironmentVariable("RUNSAGA_URL") ?? "http://127.0.0.1:5080",
    Recursive = true,
};
// No DefaultValueFactory: --help prints an option's default, and the key must never be printed. $RUNSAGA_API_KEY is
// read when a command runs (prefer it to --api-key, which other users of the machine can see in the process list).
var key = new Option<string?>("--api-key")
{
    Description = "API key (default: $RUNSAGA_API_KEY, which is safer: a command line is visible to other users)",
    Recursive = true,
};
var json = new Option<bool>("--json") { Description = "Print the API's JSON instead of a table", Recursive = true };

var root = new RootCommand("RunSaga: inspect and steer scraper runs through the Orchestrator's API") { Options = { url, key, json } };

Command Group(string name, string description, params Command[] commands)
{
    var group = new Command(name, description);
    foreach (var command in commands)
    {
        group.Subcommands.Add(command);
    }

    root.Subcommands.Add(group);
    return group;
}

Command Leaf(string name, string description, Func<ParseResult, ApiClient, CancellationToken, Task> action, params Symbol[] symbols)
{
    var command = new Command(name, description);
    foreach (var symbol in symbols)
    {
        switch (symbol)
        {
            case Option option:
                command.Options.Add(option);
                break;
            case Argument argument:
                command.Arguments.Add(argument);
                break;
        }
    }

    command.SetAction(async (parse, cancellationToken) =>
    {
        using var api = new ApiClient(new Uri(parse.GetValue(url)!.TrimEnd('/') + "/"),
            parse.GetValue(key) ?? Environment.GetEnvironmentVariable("RUNSAGA_API_KEY"));
        try
        {
            await action(parse, api, cancellationToken);
            return ExitCodes.Ok;
        }
        catch (ApiException ex)
        {
            Console.Error.WriteLine($"runsaga: {ex.Message}");
            return ex.ExitCode;
        }
    });
    return command;
}

void Print(ParseResult parse, JsonElement value, Action<JsonElement> table)
{
    if (parse.GetValue(json))
    {
        Output.Json(Console.Out, value);
    }
    else
    {
        table(value);
    }
}

(string, string)[] runColumns = [("ID", "id"), ("SOURCE", "source"), ("TYPE", "processType"), ("STATUS", "status"), ("CREATED", "times.createdAt"),
    ("ITEMS", "counts.stagedItems"), ("NEW", "counts.inserted"), ("UPDATED", "counts.updated"), ("ERROR", "error.code")];

void PrintRuns(ParseResult parse, JsonElement page) => Print(parse, page, p => PrintPage(p, runColumns));

void PrintRun(ParseResult parse, JsonElement run) => Print(parse, run, r => Output.Fields(Console.Out, r,
    ("id", "id"), ("source", "source"), ("type", "processType"), ("status", "status"), ("created", "times.createdAt"),
    ("started", "times.startedAt"), ("finished", "times.completedAt"), ("failed", "times.failedAt"), ("staged items", "counts.stagedItems"),
    ("inserted", "counts.inserted"), ("updated", "counts.updated"), ("unchanged", "counts.unchanged"), ("errored", "counts.errored"),
    ("deleted by its retention", "counts.deleted"),
    ("error", "error.code"), ("error message", "error.message"), ("archived", "archive.archivedAt"), ("archive", "archive.archivePath"),
    ("pinned until", "archive.pinnedUntil"), ("deleted", "archive.deletedAt"), ("attempt", "attempt.number"),
    ("retry of", "attempt.retryOf"), ("duplicate of", "attempt.duplicateOf"), ("cancelled by", "cancelledBy")));

void PrintPage(JsonElement page, params (string Header, string Path)[] columns)
{
    Output.Table(Console.Out, page.GetProperty("items").EnumerateArray(), columns);
    if (page.GetProperty("nextCursor").GetString() is { } next)
    {
        Console.WriteLine($"(more: --cursor {next})");
    }
}

void PrintAccepted(ParseResult parse, JsonElement accepted) => Print(parse, accepted, a =>
    Console.WriteLine($"{a.GetProperty("command").GetString()} sent (by {a.GetProperty("requestedBy").GetString()}); the retention consumer carries it out"));

string Query(params (string Name, string? Value)[] parameters) =>
    string.Join("&", parameters.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}"));

var source = new Option<string?>("--source") { Description = "Only this source" };
var status = new Option<string?>("--status") { Description = "Queued, Running, Flushed, Completed, Failed or Cancelled" };
var processType = new Option<string?>("--process-type") { Description = "ingestion, sync or manual_reindex" };
var limit = new Option<int?>("--limit") { Description = "Rows per page (1-500, default 50)" };
var cursor = new Option<string?>("--cursor") { Description = "The page after this cursor (printed under a full page)" };
var include = new Option<string?>("--include") { Description = "Also list runs whose artifacts are archived and/or deleted: archived, deleted or archived,deleted" };
var runId = new Argument<Guid>("run-id") { Description = "The run's id" };
var idempotencyKey = new Option<string?>("--idempotency-key") { Description = "A second request with this key returns the first run" };
var cancelReason = new Option<string?>("--reason") { Description = "Why (recorded as the run's error message)" };
var searchText = new Argument<string>("text") { Description = "A run id, an idempotency key or a folder name" };
var hours = new Option<int?>("--hours") { Description = "How many hours back (1-168, default 24)" };

Group("runs", "List, show, request and cancel runs",
    Leaf("list", "Runs, newest first", async (p, api, ct) => PrintRuns(p, await api.GetAsync(
            $"runs?{Query(("source", p.GetValue(source)), ("status", p.GetValue(status)), ("processType", p.GetValue(processType)),
                ("limit", p.GetValue(limit)?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("cursor", p.GetValue(cursor)),
                ("include", p.GetValue(include)))}", ct)),
        source, status, processType, limit, cursor, include),
    Leaf("show", "One run with its counts, error and archive state", async (p, api, ct) =>
        PrintRun(p, await api.GetAsync($"runs/{p.GetValue(runId)}", ct)), runId),
    Leaf("search", "Find runs by run id, idempotency key or folder name", async (p, api, ct) => PrintRuns(p, await api.GetAsync(
            $"runs/search?{Query(("q", p.GetValue(searchText)), ("limit", p.GetValue(limit)?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("cursor", p.GetValue(cursor)))}", ct)),
        searchText, limit, cursor),
    Leaf("hourly", "The fleet's runs hour by hour (by the hour each was created): completed, failed, cancelled, open", async (p, api, ct) =>
        Print(p, await api.GetAsync($"runs/hourly?{Query(("hours", p.GetValue(hours)?.ToString(System.Globalization.CultureInfo.InvariantCulture)))}", ct),
            h => Output.Table(Console.Out, h.GetProperty("buckets").EnumerateArray(),
                ("HOUR", "hour"), ("COMPLETED", "completed"), ("FAILED", "failed"), ("CANCELLED", "cancelled"), ("OPEN", "open"))),
        hours),
    Leaf("request", "Request a run (idempotent by --idempotency-key)", async (p, api, ct) =>
        PrintRun(p, await api.PostAsync("runs", new
        {
            source = p.GetValue(source) ?? throw new ApiException(ExitCodes.Usage, "--source is required"),
            processType = p.GetValue(processType),
            idempotencyKey = p.GetValue(idempotencyKey),
        }, ct)), source, processType, idempotencyKey),
    Leaf("items", "A run's staged items by key (a restored run's, or one still in staging)", async (p, api, ct) =>
        Print(p, await api.GetAsync($"runs/{p.GetValue(runId)}/items?{Query(("limit", p.GetValue(limit)?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("cursor", p.GetValue(cursor)))}", ct),
            page => PrintPage(page, ("KEY", "key"), ("BATCH", "batchId"), ("TITLE", "title"), ("ERROR", "error"))), runId, limit, cursor),
    Leaf("cancel", "Cancel a run that has not completed (exit 5 when it already ended or its promotion committed)", async (p, api, ct) =>
        PrintRun(p, await api.PostAsync($"runs/{p.GetValue(runId)}/cancel", new { reason = p.GetValue(cancelReason) }, ct)), runId, cancelReason),
    Leaf("events", "What happened to a run, oldest first: each message the saga handled and each Consumers step", async (p, api, ct) =>
        Print(p, await api.GetAsync($"runs/{p.GetValue(runId)}/events?{Query(("limit", p.GetValue(limit)?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("cursor", p.GetValue(cursor)))}", ct),
            page =>
            {
                if (page.TryGetProperty("batches", out var batches) && batches.ValueKind == JsonValueKind.Object)
                {
                    Console.WriteLine($"batches: {batches.GetProperty("batches")} staged, {batches.GetProperty("items")} items, "
                        + $"first at {batches.GetProperty("firstStagedAt")}, last at {batches.GetProperty("lastStagedAt")}");
                }

                PrintPage(page, ("AT", "recordedAt"), ("BY", "actor"), ("EVENT", "event"), ("FROM", "stateBefore"), ("TO", "stateAfter"),
                    ("OUTCOME", "outcome"), ("SUMMARY", "summary"));
            }), runId, limit, cursor));

root.Subcommands.Add(Leaf("sources", "Every source with its last run and health", async (p, api, ct) =>
    Print(p, await api.GetAsync("sources", ct), s => Output.Table(Console.Out, s.EnumerateArray(),
        ("SOURCE", "source"), ("HEALTH", "health"), ("ITEMS", "items"), ("LAST RUN", "lastRun.id"), ("STATUS", "lastRun.status"),
        ("LAST SUCCESS", "lastSuccessfulRun.finishedAt"), ("WHY", "healthReason")))));

var sourceArg = new Argument<string>("source");
root.Subcommands.Add(Leaf("source", "One source: its health, its runs newest first, where its retention stands", async (p, api, ct) =>
    Print(p, await api.GetAsync(
            $"sources/{Uri.EscapeDataString(p.GetValue(sourceArg)!)}?{Query(("limit", p.GetValue(limit)?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("cursor", p.GetValue(cursor)))}", ct),
        detail =>
        {
            Output.Fields(Console.Out, detail,
                ("source", "summary.source"), ("health", "summary.health"), ("why", "summary.healthReason"), ("items", "summary.items"),
                ("last success", "summary.lastSuccessfulRun.finishedAt"), ("retention withheld", "retention.withheld"),
                ("withheld because", "retention.withheldReason"), ("keep runs", "retention.keepRuns"),
                ("next retention cycle", "retention.nextScheduledCycle"));
            Console.WriteLine();
            Output.Table(Console.Out, detail.GetProperty("runs").EnumerateArray(),
                ("ID", "id"), ("TYPE", "processType"), ("STATUS", "status"), ("CREATED", "createdAt"), ("SECONDS", "durationSeconds"),
                ("ITEMS", "stagedItems"), ("NEW", "inserted"), ("UPDATED", "updated"), ("ERROR", "errorCode"));
            if (detail.GetProperty("nextCursor").GetString() is { } next)
            {
                Console.WriteLine($"(more: --cursor {next})");
            }
        }),
    sourceArg, limit, cursor));

var keyArg = new Argument<string>("key");
root.Subcommands.Add(Leaf("lineage", "An item and every change of it", async (p, api, ct) =>
{
    var path = $"projects/{Uri.EscapeDataString(p.GetValue(sourceArg)!)}/{Uri.EscapeDataString(p.GetValue(keyArg)!)}";
    var changes = await api.GetAsync($"{path}/lineage", ct);
    Print(p, changes, c => Output.Table(Console.Out, c.EnumerateArray(),
        ("CHANGE", "change"), ("RUN", "runId"), ("BATCH", "batchId"), ("AT", "recordedAt"), ("HASH", "contentHash")));
}, sourceArg, keyArg));

var output = new Option<string?>("--output", "-o") { Description = "Where to write the file (default: its name, here)" };
Group("archive", "Archived runs",
    Leaf("list", "Archived runs, newest first", async (p, api, ct) => PrintRuns(p, await api.GetAsync(
        $"runs/archived?{Query(("limit", p.GetValue(limit)?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("cursor", p.GetValue(cursor)))}", ct)),
        limit, cursor),
    Leaf("restore", "Unpack a run's archive back into staging, read-only", async (p, api, ct) =>
        PrintAccepted(p, await api.PostAsync($"runs/{p.GetValue(runId)}/restore", null, ct)), runId),
    Leaf("download", "Save a run's archive file", async (p, api, ct) =>
    {
        var run = await api.GetAsync($"runs/{p.GetValue(runId)}", ct);
        var target = p.GetValue(output) ?? Path.GetFileName(Output.Find(run, "archive.archivePath")?.GetString() ?? $"{p.GetValue(runId)}.tar.gz");
        await api.DownloadAsync($"runs/{p.GetValue(runId)}/archive", target, ct);
        Console.WriteLine(target);
    }, runId, output));

var until = new Option<DateTimeOffset?>("--until") { Description = "Pin until this moment (ISO 8601 with offset); omit to unpin" };
var reason = new Option<string>("--reason") { Description = "Why (kept in the audit row)", Required = true };
Group("run", "Steer one run",
    Leaf("pin", "Keep a run from archival and deletion until --until (no --until: unpin)", async (p, api, ct) =>
        PrintAccepted(p, await api.PostAsync($"runs/{p.GetValue(runId)}/pin", new { until = p.GetValue(until) }, ct)), runId, until),
    Leaf("delete", "Delete a run's artifacts now (admin key)", async (p, api, ct) =>
        PrintAccepted(p, await api.DeleteAsync($"runs/{p.GetValue(runId)}?{Query(("reason", p.GetValue(reason)))}", ct)), runId, reason),
    Leaf("undelete", "Bring back a soft-deleted run while its archive is in the trash (admin key; exit 5 when it cannot come back)", async (p, api, ct) =>
    {
        var answer = await api.PostAsync($"runs/{p.GetValue(runId)}/undelete", null, ct);
        if (answer.TryGetProperty("command", out _))
        {
            PrintAccepted(p, answer);
        }
        else
        {
            PrintRun(p, answer);
        }
    }, runId));

var dryRun = new Option<bool>("--dry-run") { Description = "Report what would be pruned, archived and deleted; change nothing" };
Group("retention", "Retention cycles",
    Leaf("apply", "Run a retention cycle now (one source or all)", async (p, api, ct) =>
        PrintAccepted(p, await api.PostAsync("retention/apply", new { source = p.GetValue(source), dryRun = p.GetValue(dryRun) }, ct)), source, dryRun),
    Leaf("release", "Release a source's withheld retention", async (p, api, ct) =>
        PrintAccepted(p, await api.PostAsync($"sources/{Uri.EscapeDataString(p.GetValue(sourceArg)!)}/retention/release", null, ct)), sourceArg),
    Leaf("cycles", "Retention cycles with their outcome, counts and error, newest first", async (p, api, ct) =>
        Print(p, await api.GetAsync($"retention/cycles?{Query(("source", p.GetValue(source)), ("limit", p.GetValue(limit)?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("cursor", p.GetValue(cursor)))}", ct),
            page => PrintPage(page, ("ID", "id"), ("SOURCE", "source"), ("TRIGGER", "trigger"), ("STARTED", "startedAt"), ("OUTCOME", "outcome"),
                ("ITEMS DELETED", "projectsDeleted"), ("ARCHIVED", "runsArchived"), ("RUNS DELETED", "runsDeleted"), ("WHY", "reason"), ("ERROR", "error"))),
        source, limit, cursor));

Group("audit", "What retention and operators deleted",
    Leaf("list", "Deleted runs: who, why, when, newest first (run_audit)", async (p, api, ct) =>
        Print(p, await api.GetAsync($"audit/runs?{Query(("source", p.GetValue(source)), ("limit", p.GetValue(limit)?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("cursor", p.GetValue(cursor)))}", ct),
            page => PrintPage(page, ("RUN", "runId"), ("SOURCE", "source"), ("ACTION", "action"), ("BY", "requestedBy"), ("AT", "recordedAt"),
                ("STATUS", "status"), ("WHY", "reason"))),
        source, limit, cursor));

var messageIdOption = new Option<string?>("--message-id") { Description = "The message's id (runsaga errors show lists them)" };
var messageIdArg = new Argument<string>("message-id") { Description = "The message's id (runsaga errors show lists them)" };
var replayRun = new Option<Guid?>("--run") { Description = "Every message of this run" };
var replayAll = new Option<bool>("--all") { Description = "Every message in the queue" };
var queueArg = new Argument<string>("queue") { Description = "A dead-letter queue, e.g. runsaga.staging_error (runsaga errors list names them)" };
Group("errors", "Dead letters: messages RunSaga could not handle (_error queues) or has no consumer for (_skipped)",
    Leaf("list", "The dead-letter queues that exist, with how many messages each holds", async (p, api, ct) =>
        Print(p, await api.GetAsync("errors", ct), queues => Output.Table(Console.Out, queues.EnumerateArray(),
            ("QUEUE", "name"), ("KIND", "kind"), ("MESSAGES", "messages")))),
    Leaf("show", "The messages at the head of one queue: type, run, why and when it failed (they stay in the queue)", async (p, api, ct) =>
        Print(p, await api.GetAsync($"errors/{Uri.EscapeDataString(p.GetValue(queueArg)!)}?{Query(("limit", p.GetValue(limit)?.ToString(System.Globalization.CultureInfo.InvariantCulture)))}", ct),
            messages => Output.Table(Console.Out, messages.EnumerateArray(),
                ("MESSAGE", "messageId"), ("TYPE", "messageType"), ("RUN", "runId"), ("FAILED", "failedAt"), ("WHY", "faultMessage"))),
        queueArg, limit),
    Leaf("replay", "Put messages back on the queue they failed on: one (--message-id), a run's (--run) or all (--all); operator key", async (p, api, ct) =>
        PrintMoved(p, "replayed to", await api.PostAsync($"errors/{Uri.EscapeDataString(p.GetValue(queueArg)!)}/replay",
            new { messageId = p.GetValue(messageIdOption), runId = p.GetValue(replayRun), all = p.GetValue(replayAll) ? true : (bool?)null }, ct)),
        queueArg, messageIdOption, replayRun, replayAll),
    Leaf("discard", "Remove one message for good, its body kept in runsaga.dead_letter_actions with --reason; admin key", async (p, api, ct) =>
        PrintMoved(p, "discarded from", await api.PostAsync($"errors/{Uri.EscapeDataString(p.GetValue(queueArg)!)}/discard",
            new { messageId = p.GetValue(messageIdArg), reason = p.GetValue(reason) }, ct)),
        queueArg, messageIdArg, reason));

void PrintMoved(ParseResult parse, string verb, JsonElement moved) => Print(parse, moved, m =>
{
    Output.Table(Console.Out, m.GetProperty("messages").EnumerateArray(), ("MESSAGE", "messageId"), ("TYPE", "messageType"), ("RUN", "runId"));
    Console.WriteLine($"{m.GetProperty("count")} {(m.GetProperty("count").GetInt32() == 1 ? "message" : "messages")} {verb} "
        + (m.GetProperty("target").GetString() ?? m.GetProperty("queue").GetString()));
});

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine($"runsaga: {error.Message}");
    }

    Console.Error.WriteLine("runsaga --help lists the commands");
    return ExitCodes.Usage;
}

return await parsed.InvokeAsync();
