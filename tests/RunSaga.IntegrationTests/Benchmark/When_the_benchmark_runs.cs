using System.Diagnostics;
using System.Text.Json;
using RunSaga.IntegrationTests.Fixture;

namespace RunSaga.IntegrationTests.Benchmark;

/// <summary>
/// The smoke test of <c>scripts/bench</c> (docs/benchmarks/README.md): the CI-sized benchmark, 200,000 items, run
/// exactly as a developer runs it, on the tests' build. The benchmark fails by itself when a run fails or a run's
/// counts are wrong; here we also check what it wrote. The speed targets are reported, not asserted: CI machines
/// differ. Memory is asserted: streaming (no whole run in memory) is a property of the code, not of the machine.
/// In the stack's collection so that nothing else runs meanwhile; it uses its own database and virtual host.
/// It runs as the scale-out comparison runs (<c>--orchestrators 2 --consumers 2</c>): the same runs again with two
/// instances of each host, which must share the batches and reach the same counts.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_the_benchmark_runs(ITestOutputHelper output)
{
    private const int Items = 200_000;

    [Fact]
    public async Task Should_measure_both_runs_against_the_floor_and_write_the_report()
    {
        var layout = RepositoryLayout.Discover();
        var outDirectory = Path.Combine(Path.GetTempPath(), $"runsaga-bench-smoke-{Guid.NewGuid():N}");
        try
        {
            var info = new ProcessStartInfo("bash") { WorkingDirectory = layout.Root, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { "scripts/bench", "--no-build", "--configuration", layout.Configuration, "--items", Items.ToString(System.Globalization.CultureInfo.InvariantCulture), "--steady-seconds", "10", "--history-rounds", "1", "--orchestrators", "2", "--consumers", "2", "--out", outDirectory })
            {
                info.ArgumentList.Add(argument);
            }

            using var bench = Process.Start(info)!;
            var stdout = bench.StandardOutput.ReadToEndAsync();
            var stderr = bench.StandardError.ReadToEndAsync();
            if (!bench.WaitForExit(TimeSpan.FromMinutes(15)))
            {
                bench.Kill(entireProcessTree: true);
                Assert.Fail($"scripts/bench --items {Items} did not finish within 15 minutes.\n{await stdout}");
            }

            output.WriteLine(await stdout);
            Assert.True(bench.ExitCode == 0, $"scripts/bench exited with {bench.ExitCode}:\n{await stdout}\n{await stderr}");

            using var report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDirectory, $"bench-{Items}.json")));
            var root = report.RootElement;
            var first = root.GetProperty("firstRun");
            var second = root.GetProperty("secondRun");
            Assert.Equal(Items, first.GetProperty("pipeline").GetProperty("inserted").GetInt32());

            // The re-scrape: about 10 % changed, 1 % removed, 1 % added; everything else unchanged.
            var updated = second.GetProperty("pipeline").GetProperty("updated").GetInt32();
            var inserted = second.GetProperty("pipeline").GetProperty("inserted").GetInt32();
            var unchanged = second.GetProperty("pipeline").GetProperty("unchanged").GetInt32();
            Assert.InRange(updated, Items * 8 / 100, Items * 12 / 100);
            Assert.Equal(Items / 100, inserted);
            Assert.InRange(unchanged, Items * 86 / 100, Items * 90 / 100);

            // Unchanged items cost no rewrite of their projects row: the second run writes the rows it creates or
            // changes, and the removed items' rows (their last confirmation is written down, see ProjectState).
            var removed = Items - updated - unchanged;
            Assert.Equal(inserted + updated + removed, second.GetProperty("pipeline").GetProperty("projectRowsWritten").GetInt64());

            foreach (var run in new[] { first, second })
            {
                Assert.True(run.GetProperty("floorSeconds").GetDouble() > 0);
                Assert.True(run.GetProperty("ratio").GetDouble() > 0);
                foreach (var host in run.GetProperty("pipeline").GetProperty("peakRssMb").EnumerateObject())
                {
                    Assert.True(host.Value.GetDouble() is > 0 and <= 400, $"peak RSS of {host.Name}: {host.Value} MiB (limit 400)");
                }
            }

            Assert.True(root.GetProperty("brokerFloorSeconds").GetDouble() > 0);
            var small = root.GetProperty("smallRuns");
            Assert.Equal(1000, small.GetProperty("runs").GetInt32());
            Assert.True(small.GetProperty("runsPerSecond").GetDouble() > 0);
            Assert.True(small.GetProperty("cpuMsPerRun").GetProperty("orchestrator").GetDouble() > 0);
            // The same small runs with the run history and without it (RUN_HISTORY=false), one round each here.
            var historyCost = root.GetProperty("historyCost");
            foreach (var side in new[] { "on", "off" })
            {
                var round = Assert.Single(historyCost.GetProperty(side).EnumerateArray());
                Assert.Equal(1000, round.GetProperty("runs").GetInt32());
                Assert.True(round.GetProperty("runsPerSecond").GetDouble() > 0);
            }

            Assert.True(historyCost.GetProperty("throughputRatio").GetDouble() > 0);
            var steady = root.GetProperty("steadyRuns");
            Assert.Equal(200, steady.GetProperty("runs").GetInt32());
            Assert.True(steady.GetProperty("latencyP99Seconds").GetDouble() >= steady.GetProperty("latencyP50Seconds").GetDouble());
            Assert.True(steady.GetProperty("latencyP50Seconds").GetDouble() > 0);

            // The same runs with two instances of each host: the same counts, against the same floor, and both Consumers
            // staged a share of the batches (competing consumers on one queue).
            var scaleOut = root.GetProperty("scaleOut");
            Assert.Equal(2, scaleOut.GetProperty("orchestrators").GetInt32());
            Assert.Equal(2, scaleOut.GetProperty("consumers").GetInt32());
            var scaledFirst = scaleOut.GetProperty("firstRun");
            var scaledSecond = scaleOut.GetProperty("secondRun").GetProperty("pipeline");
            Assert.Equal(Items, scaledFirst.GetProperty("pipeline").GetProperty("inserted").GetInt32());
            Assert.Equal(first.GetProperty("floorSeconds").GetDouble(), scaledFirst.GetProperty("floorSeconds").GetDouble());
            Assert.Equal((inserted, updated, unchanged),
                (scaledSecond.GetProperty("inserted").GetInt32(), scaledSecond.GetProperty("updated").GetInt32(), scaledSecond.GetProperty("unchanged").GetInt32()));
            var stagedBy = scaledFirst.GetProperty("pipeline").GetProperty("phases").GetProperty("batchesStagedBy");
            Assert.True(stagedBy.GetProperty("consumers").GetInt32() > 0 && stagedBy.GetProperty("consumers.2").GetInt32() > 0,
                $"both Consumers instances stage batches of the first run: {stagedBy}");
            Assert.True(stagedBy.EnumerateObject().Sum(b => b.Value.GetInt32()) >= Items / 1000, $"every batch's staging is in the logs: {stagedBy}");
            var instances = scaledFirst.GetProperty("pipeline").GetProperty("peakRssMb").EnumerateObject().Select(p => p.Name).Order().ToArray();
            Assert.Equal(["consumers", "consumers.2", "orchestrator", "orchestrator.2"], instances);
            Assert.Equal(1000, scaleOut.GetProperty("smallRuns").GetProperty("runs").GetInt32());
            Assert.Contains("scale-out: 2 Orchestrators + 2 Consumers next to 1 + 1", await stdout, StringComparison.Ordinal);

            var svg = await File.ReadAllTextAsync(Path.Combine(outDirectory, $"bench-{Items}.svg"));
            Assert.StartsWith("<svg", svg, StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(outDirectory))
            {
                Directory.Delete(outDirectory, recursive: true);
            }
        }
    }
}
