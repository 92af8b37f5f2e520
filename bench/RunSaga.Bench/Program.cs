using System.Diagnostics;
using System.Globalization;
using RunSaga.Bench;

// scripts/bench [--items N] [--batch B] [--seed S] [--small-runs R] [--steady-rate R] [--out DIR]: see docs/benchmarks/README.md.
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
Say($"hosts' logs and work files in {workDirectory}");

await using var stack = await BenchStack.Start(settings, workDirectory);
Say($"stack up: database {BenchStack.DatabaseName}, virtual host {BenchStack.VirtualHostName}, "
    + $"orchestrator pid {stack.Orchestrator.Id}, consumers pid {stack.Consumers.Id}");

var clock = Stopwatch.StartNew();
await using var scraper = await Scraper.Connect(stack.Amqp, clock);
var data = new DataSet(options.Items, options.Seed);
var floor = new Floor(stack, workDirectory);
await floor.Prepare();

Say("writing the floor's COPY files (not timed)");
var firstFile = floor.WriteCopyFile("first-run", data.FirstRun());
var secondFile = floor.WriteCopyFile("second-run", data.SecondRun());
var second = data.SecondRunExpectation();

var pipeline = new Pipeline(stack, scraper, clock, options);

// Long-running hosts are warm: their code is compiled (tiered JIT) and their pools are full. Fresh ones spent about
// 10 CPU seconds more on the first run here, so a run of another source warms them first (not measured).
var warmup = Math.Clamp(options.Items / 10, 10_000, 50_000);
await pipeline.Run("warm-up", new DataSet(warmup, options.Seed + 1).FirstRun(), new Expected(warmup, 0, 0, warmup), source: "bench-warmup");
var firstRun = await pipeline.Run("first run", data.FirstRun(), new Expected(options.Items, 0, 0, options.Items));
var firstFloor = await floor.Run(firstFile, Guid.NewGuid());
Say($"floor, first run: \\copy {firstFloor.Copy.TotalSeconds:0.00} s + upsert {firstFloor.Upsert.TotalSeconds:0.00} s");
var secondRun = await pipeline.Run("second run", data.SecondRun(), new Expected(second.Inserted, second.Updated, second.Unchanged, second.Published));
var secondFloor = await floor.Run(secondFile, Guid.NewGuid());
Say($"floor, second run: \\copy {secondFloor.Copy.TotalSeconds:0.00} s + upsert {secondFloor.Upsert.TotalSeconds:0.00} s");
if (await floor.RowCount() != options.Items + second.Inserted)
{
    throw new InvalidOperationException("The floor's table does not hold the items of both runs; the floor is wrong.");
}

var firstBodies = DataSet.Batches(data.FirstRun(), options.Batch).Select((b, i) => Envelope.ItemsScraped(Guid.NewGuid(), Envelope.BatchId(i), b));
var brokerFloor = await BrokerFloor.Run(stack.Amqp, firstBodies, (options.Items + options.Batch - 1) / options.Batch, prefetch: 8);
Say($"broker floor: {(options.Items + options.Batch - 1) / options.Batch:N0} messages published and consumed raw in {brokerFloor.TotalSeconds:0.00} s");

var small = options.SmallRuns > 0 ? await new SmallRuns(stack, scraper, clock, data, options).Run() : null;
var steady = options.SteadyRate > 0 ? await new SmallRuns(stack, scraper, clock, data, options).RunSteady() : null;

var report = BenchReport.Create(options, firstRun, firstFloor, secondRun, secondFloor, brokerFloor, small, steady, settings.RepositoryRoot);
report.Print(Console.Out);
var (jsonPath, svgPath) = report.Write(outDirectory);
Say($"wrote {jsonPath} and {svgPath}");
return 0;

static void Say(string message) => Console.WriteLine($"[bench {DateTime.Now:HH:mm:ss}] {message}");

/// <summary>The command line.</summary>
public sealed record BenchOptions(int Items, int Batch, int Seed, int SmallRuns, int SmallItems, int SmallSources, string? Out)
{
    /// <summary>Runs per second of the open-loop measurement (0 skips it).</summary>
    public double SteadyRate { get; init; } = 20;
    public int SteadySeconds { get; init; } = 60;
    public int SteadyItems { get; init; } = 20;
    public int SteadySources { get; init; } = 10;

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
                    + "[--steady-items I (20)] [--steady-sources K (10)] [--out DIR (docs/benchmarks)]");
                return null;
            }
        }

        if (o.Items < 1000 || o.Batch < 1 || o.Batch > 10_000 || o.SmallSources < 1 || o.SmallItems < 1
            || o.SteadySources < 1 || o.SteadyItems < 1 || o.SteadySeconds < 1)
        {
            Console.Error.WriteLine("bench: --items must be at least 1000, --batch from 1 to 10000 (RunSaga's batch limit), the small-run sizes at least 1");
            return null;
        }

        return o;
    }
}
