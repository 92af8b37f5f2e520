using System.Diagnostics;
using System.Globalization;
using RunSaga.Bench;

// scripts/bench [--items N] [--batch B] [--seed S] [--small-runs R] [--steady-rate R] [--history-rounds R] [--orchestrators N --consumers M] [--out DIR]:
// see docs/benchmarks/README.md.
var options = BenchOptions.Parse(args);
if (options is null)
{
    return 2;
}

var settings = new BenchSettings(BenchSettings.FindRepositoryRoot());
var workDirectory = Path.Combine(settings.RepositoryRoot, ".run", "bench");
Directory.CreateDirectory(workDirectory);
var outDirectory = Path.GetFullPath(options.Out ?? Path.Combine(settings.RepositoryRoot, "docs", "benchmarks"));
Directory.CreateDirectory(outDirectory);

Say($"RunSaga benchmark: {options.Items:N0} items in batches of {options.Batch:N0}, seed {options.Seed}; "
    + $"{options.SmallRuns:N0} small runs of {options.SmallItems} items over {options.SmallSources} sources");
if (options.Orchestrators != 1 || options.Consumers != 1)
{
    Say($"then the same runs with {options.Orchestrators} Orchestrators and {options.Consumers} Consumers, next to 1 + 1");
}

Say($"hosts' logs and work files in {workDirectory}");

var clock = Stopwatch.StartNew();
var data = new DataSet(options.Items, options.Seed);
var second = data.SecondRunExpectation();
PipelineResult firstRun, secondRun;
FloorResult firstFloor, secondFloor;
TimeSpan brokerFloor;
SmallRunsResult? small;
SteadyRunsResult? steady;
RunHistoryCost? historyCost = null;

// The benchmark proper, with one instance of each host (the figures docs/benchmarks/README.md compares over time).
await using (var stack = await BenchStack.Start(settings, workDirectory))
{
    Say($"stack up: database {BenchStack.DatabaseName}, virtual host {BenchStack.VirtualHostName}, "
        + $"{stack.Shape} (pids {string.Join(", ", stack.Hosts.Select(h => $"{h.Name} {h.Id}"))})");
    await using var scraper = await Scraper.Connect(stack.Amqp, clock);
    var floor = new Floor(stack, workDirectory);
    await floor.Prepare();

    Say("writing the floor's COPY files (not timed)");
    var firstFile = floor.WriteCopyFile("first-run", data.FirstRun());
    var secondFile = floor.WriteCopyFile("second-run", data.SecondRun());

    var pipeline = new Pipeline(stack, scraper, clock, options);
    await WarmUp(pipeline);
    firstRun = await pipeline.Run("first run", data.FirstRun(), new Expected(options.Items, 0, 0, options.Items));
    firstFloor = await floor.Run(firstFile, Guid.NewGuid());
    Say($"floor, first run: \\copy {firstFloor.Copy.TotalSeconds:0.00} s + upsert {firstFloor.Upsert.TotalSeconds:0.00} s");
    secondRun = await pipeline.Run("second run", data.SecondRun(), new Expected(second.Inserted, second.Updated, second.Unchanged, second.Published));
    secondFloor = await floor.Run(secondFile, Guid.NewGuid());
    Say($"floor, second run: \\copy {secondFloor.Copy.TotalSeconds:0.00} s + upsert {secondFloor.Upsert.TotalSeconds:0.00} s");
    if (await floor.RowCount() != options.Items + second.Inserted)
    {
        throw new InvalidOperationException("The floor's table does not hold the items of both runs; the floor is wrong.");
    }

    var firstBodies = DataSet.Batches(data.FirstRun(), options.Batch).Select((b, i) => Envelope.ItemsScraped(Guid.NewGuid(), Envelope.BatchId(i), b));
    brokerFloor = await BrokerFloor.Run(stack.Amqp, firstBodies, (options.Items + options.Batch - 1) / options.Batch, prefetch: 8);
    Say($"broker floor: {(options.Items + options.Batch - 1) / options.Batch:N0} messages published and consumed raw in {brokerFloor.TotalSeconds:0.00} s");

    small = options.SmallRuns > 0 ? await new SmallRuns(stack, scraper, clock, data, options).Run() : null;
    steady = options.SteadyRate > 0 ? await new SmallRuns(stack, scraper, clock, data, options).RunSteady() : null;

    // What the run history costs: the same small runs with RUN_HISTORY on and off, alternating (--history-rounds pairs),
    // each on hosts restarted on the same database and warmed the same way (a large warm-up run and 200 small runs), so
    // neither side has warmer hosts or a younger database.
    if (options.SmallRuns > 0 && options.HistoryRounds > 0)
    {
        var on = new List<SmallRunsResult>();
        var off = new List<SmallRunsResult>();
        for (var round = 1; round <= options.HistoryRounds; round++)
        {
            foreach (var history in new[] { true, false })
            {
                var name = $"history-{(history ? "on" : "off")}-{round}";
                var logs = Path.Combine(workDirectory, name);
                Say($"round {round} of {options.HistoryRounds}: small runs with RUN_HISTORY={(history ? "true" : "false")} (hosts restarted on the same database; logs in {logs})");
                await stack.RestartHosts(new Dictionary<string, string> { ["RUN_HISTORY"] = history ? "true" : "false" }, logs);
                await WarmUp(pipeline, $"bench-warmup-{name}", options.Seed + 2 + round * 2 + (history ? 0 : 1));
                await new SmallRuns(stack, scraper, clock, data, options).Run(200);
                (history ? on : off).Add(await new SmallRuns(stack, scraper, clock, data, options).Run());
                await using var historyRows = stack.DataSource.CreateCommand(
                    $"SELECT count(*) FROM runsaga.run_events e JOIN runsaga.runs r ON r.id = e.run_id WHERE r.source = 'bench-warmup-{name}'");
                if (await historyRows.ExecuteScalarAsync() is long rows && (rows > 0) != history)
                {
                    throw new InvalidOperationException($"RUN_HISTORY={history} did not reach the hosts: the warm-up run has {rows} history rows.");
                }
            }
        }

        historyCost = new RunHistoryCost(on, off);
    }
}

// --orchestrators N --consumers M: the same runs again on a fresh database with N and M competing instances, reported
// next to the figures above (same invocation, same floor).
ScaleOutResult? scaleOut = null;
if (options.Orchestrators != 1 || options.Consumers != 1)
{
    var scaledDirectory = Path.Combine(workDirectory, $"{options.Orchestrators}+{options.Consumers}");
    Directory.CreateDirectory(scaledDirectory);
    await using var stack = await BenchStack.Start(settings, scaledDirectory, options.Orchestrators, options.Consumers);
    Say($"scale-out: {stack.Shape} on a fresh database (pids {string.Join(", ", stack.Hosts.Select(h => $"{h.Name} {h.Id}"))}; logs in {scaledDirectory})");
    await using var scraper = await Scraper.Connect(stack.Amqp, clock);
    var pipeline = new Pipeline(stack, scraper, clock, options);
    await WarmUp(pipeline);
    var scaledFirst = await pipeline.Run("first run", data.FirstRun(), new Expected(options.Items, 0, 0, options.Items));
    var scaledSecond = await pipeline.Run("second run", data.SecondRun(), new Expected(second.Inserted, second.Updated, second.Unchanged, second.Published));
    var scaledSmall = options.SmallRuns > 0 ? await new SmallRuns(stack, scraper, clock, data, options).Run() : null;
    var scaledSteady = options.SteadyRate > 0 ? await new SmallRuns(stack, scraper, clock, data, options).RunSteady() : null;
    scaleOut = new ScaleOutResult(options.Orchestrators, options.Consumers,
        BenchReport.Compare(scaledFirst, firstFloor), BenchReport.Compare(scaledSecond, secondFloor), scaledSmall, scaledSteady);
}

var report = BenchReport.Create(options, firstRun, firstFloor, secondRun, secondFloor, brokerFloor, small, steady, scaleOut, settings.RepositoryRoot)
    with { HistoryCost = historyCost };
report.Print(Console.Out);
var (jsonPath, svgPath) = report.Write(outDirectory);
Say($"wrote {jsonPath} and {svgPath}");
return 0;

// Long-running hosts are warm: their code is compiled (tiered JIT) and their pools are full. Fresh ones spent about
// 10 CPU seconds more on the first run here, so a run of another source warms them first (not measured). With several
// instances, the warm-up's batches are spread over all of them.
async Task WarmUp(Pipeline pipeline, string source = "bench-warmup", int? seed = null)
{
    var warmup = Math.Clamp(options.Items / 10, 10_000, 50_000);
    await pipeline.Run("warm-up", new DataSet(warmup, seed ?? options.Seed + 1).FirstRun(), new Expected(warmup, 0, 0, warmup), source: source);
}

static void Say(string message) => Console.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] {message}");

/// <summary>The command line.</summary>
public sealed record BenchOptions(int Items, int Batch, int Seed, int SmallRuns, int SmallItems, int SmallSources, string? Out)
{
    /// <summary>Instances of each host for the scale-out measurement (1 and 1: none).</summary>
    public int Orchestrators { get; init; } = 1;
    public int Consumers { get; init; } = 1;

    /// <summary>Runs per second of the open-loop measurement (0 skips it).</summary>
    public double SteadyRate { get; init; } = 20;
    public int SteadySeconds { get; init; } = 60;
    public int SteadyItems { get; init; } = 20;
    public int SteadySources { get; init; } = 10;

    /// <summary>Pairs of small-run measurements with RUN_HISTORY on, then off (0 skips the comparison).</summary>
    public int HistoryRounds { get; init; } = 2;

    public static BenchOptions? Parse(string[] args)
    {
        var o = new BenchOptions(1_000_000, 1_000, 20261123, 1_000, 50, 20, null);
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : null;
            int Int() => value is not null && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 0
                ? n
                : throw new ArgumentException($"{args[i]} needs a whole number");
            try
            {
                o = args[i] switch
                {
                    "--items" => o with { Items = Int() },
                    "--batch" => o with { Batch = Int() },
                    "--seed" => o with { Seed = Int() },
                    "--small-runs" => o with { SmallRuns = Int() },
                    "--small-items" => o with { SmallItems = Int() },
                    "--small-sources" => o with { SmallSources = Int() },
                    "--steady-rate" => o with { SteadyRate = Int() },
                    "--steady-seconds" => o with { SteadySeconds = Int() },
                    "--steady-items" => o with { SteadyItems = Int() },
                    "--steady-sources" => o with { SteadySources = Int() },
                    "--history-rounds" => o with { HistoryRounds = Int() },
                    "--orchestrators" => o with { Orchestrators = Int() },
                    "--consumers" => o with { Consumers = Int() },
                    "--out" => o with { Out = value ?? throw new ArgumentException("--out needs a directory") },
                    _ => throw new ArgumentException($"unknown option {args[i]}"),
                };
                i++;
            }
            catch (ArgumentException ex)
            {
                Console.Error.WriteLine($"bench: {ex.Message}");
                Console.Error.WriteLine("usage: scripts/bench [--items N (1000000)] [--batch B (1000)] [--seed S] [--small-runs R (1000)] "
                    + "[--small-items I (50)] [--small-sources K (20)] [--steady-rate R (20; 0 skips)] [--steady-seconds S (60)] "
                    + "[--steady-items I (20)] [--steady-sources K (10)] [--history-rounds R (2; 0 skips)] [--orchestrators N (1)] [--consumers M (1)] [--out DIR (docs/benchmarks)]");
                return null;
            }
        }

        if (o.Items < 1000 || o.Batch < 1 || o.Batch > 10_000 || o.SmallSources < 1 || o.SmallItems < 1
            || o.SteadySources < 1 || o.SteadyItems < 1 || o.SteadySeconds < 1
            || o.Orchestrators is < 1 or > 8 || o.Consumers is < 1 or > 8)
        {
            Console.Error.WriteLine("bench: --items must be at least 1000, --batch from 1 to 10000 (RunSaga's batch limit), the small-run sizes at least 1, "
                + "--orchestrators and --consumers from 1 to 8");
            return null;
        }

        return o;
    }
}
