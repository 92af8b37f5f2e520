using System.Globalization;
using System.Text;
using Npgsql;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Faults;

/// <summary>
/// The fault campaign (issue 5, first part): many runs of several sources, full and sync, with duplicated,
/// reordered, missing and late messages, through the real stack while hosts are killed, database backends
/// terminated and AMQP connections closed at random moments from a seed. An oracle computes from the published
/// data alone what every run must end as and what <c>projects</c> and <c>project_lineage</c> must hold, and compares.
/// <c>CHAOS_RUNS</c> (default 52: thirteen waves, every fault kind once; the short profile of scripts/test) and <c>CHAOS_SEED</c> (default: random, printed)
/// choose the campaign; <c>scripts/chaos</c> runs longer ones. The summary goes to the test output and to
/// <c>CHAOS_SUMMARY</c> when set.
/// <para>
/// The hosts run as several instances (<c>CHAOS_ORCHESTRATORS</c> and <c>CHAOS_CONSUMERS</c>, 2 and 2 by default), and the
/// faults kill one instance at a time as well as all of them. Every fault kind is performed at least once when the campaign
/// has as many waves as there are kinds; a fault that cannot be performed fails the campaign, and so does a campaign
/// of no runs.
/// </para>
/// </summary>
[Collection(DistributedCollection.Name)]
public sealed class ChaosCampaign(DistributedStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private const int Universe = 30;
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(180);

    /// <summary>
    /// Commands lost with a killed Orchestrator come back after RESEND_AFTER. FLUSH_TIMEOUT is shorter than most outages the
    /// campaign causes: a flush verdict must wait until staging has kept up for STAGING_SETTLE (finding 2 of
    /// docs/reliability.md), which covers the Consumers' retry intervals after a short database restart.
    /// </summary>
    private static readonly Dictionary<string, string> Orchestrator = new()
    {
        ["RESEND_AFTER"] = "00:00:05",
        ["FLUSH_TIMEOUT"] = "00:00:05",
        ["STAGING_SETTLE"] = "00:00:15",
        ["CONSUMER_WATCHDOG_AFTER"] = "00:00:20",

        // Every 30 s, so that the oracle can check each occurrence was fired once across the Orchestrators.
        ["RETENTION_SCHEDULE"] = "0/30 * * * * ?",
    };

    /// <summary>Pruning is off: its oracle is retention's own tests.</summary>
    private static readonly Dictionary<string, string> Consumers = new() { ["KEEP_RUNS"] = "1000", ["CONSUMER_WATCHDOG_AFTER"] = "00:00:20" };

    private enum Scenario { Normal, DuplicateBatch, CompletionFirst, LateBatch, ScraperFailure, MissingBatch, HostileItems, OversizeBatch }

    private enum Fault
    {
        None,
        KillConsumers,
        KillOrchestrator,
        KillOneConsumers,
        KillOneOrchestrator,
        TerminateDatabaseBackends,
        CloseAmqpConnections,
        RestartRabbitMq,
        RestartPostgres,
        KillBrokerNode,
        KillBusiestQueueLeader,
        StopBrokerNode,
        PartitionBrokerNode,
        FailOverPostgres,
    }

    private static readonly Fault[] FaultKinds = [.. Enum.GetValues<Fault>().Where(f => f != Fault.None)];

    private sealed record PlannedRun(ScrapeRun Run, Scenario Scenario, IReadOnlyList<Item> Items, IReadOnlyList<Batch> Batches)
    {
        public string ExpectedStatus => ExpectedCode is null ? "Completed" : "Failed";

        public string? ExpectedCode => Scenario switch
        {
            Scenario.ScraperFailure => "UPSTREAM_UNAVAILABLE",
            Scenario.MissingBatch => "FLUSH_INCOMPLETE",
            Scenario.OversizeBatch => "BATCH_TOO_LARGE",
            _ => null,
        };

        /// <summary>Items published that must be rejected one by one (HostileItems).</summary>
        public int RejectedItems => Scenario == Scenario.HostileItems ? Batches.Sum(b => b.Items.Count) - Items.Count : 0;
    }

    [Fact]
    public async Task Should_lose_nothing_and_end_every_run_correctly()
    {
        var runs = int.TryParse(Environment.GetEnvironmentVariable("CHAOS_RUNS"), out var n) ? n : 52;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("CHAOS_SEED"), out var s) ? s : Random.Shared.Next(1, 100_000);
        var orchestrators = int.TryParse(Environment.GetEnvironmentVariable("CHAOS_ORCHESTRATORS"), out var o) ? o : 2;
        var consumers = int.TryParse(Environment.GetEnvironmentVariable("CHAOS_CONSUMERS"), out var c) ? c : 2;
        Assert.True(runs > 0, $"CHAOS_RUNS={runs}: a campaign of no runs proves nothing");
        Assert.True(orchestrators > 0 && consumers > 0, $"CHAOS_ORCHESTRATORS={orchestrators}, CHAOS_CONSUMERS={consumers}: at least one of each");
        Output.WriteLine($"chaos: {runs} runs, seed {seed} (CHAOS_SEED={seed} replays it), {orchestrators} Orchestrators, {consumers} Consumers");
        var random = new Random(seed);
        var schedule = PlanFaults(random, (runs + 3) / 4);
        var sources = Enumerable.Range(1, 4).Select(i => NewSource($"chaos{seed}-s{i}")).ToArray();
        var revisions = sources.ToDictionary(x => x, _ => new int[Universe + 1]);
        var plan = new List<PlannedRun>();
        var faults = new Dictionary<string, int>();
        var started = DateTime.UtcNow;
        var hostile = new List<(HostileInput.Kind Kind, Guid RunId)>();
        var restartsBefore = Stack.WatchdogRestarts;
        var logMark = Stack.Logs.Mark();

        await Stack.Scale(orchestrators, consumers, Orchestrator, Consumers);

        // A downstream system's view: every run's outcome must reach it, however the hosts die.
        await using var downstream = await Publisher.Subscribe($"it-chaos-downstream-{seed}-{Guid.NewGuid():N}", "RunCompleted", "RunFailed");

        // What the retention schedule sends: one command per occurrence, however many Orchestrators watch the schedule.
        await using var retention = await Publisher.Subscribe($"it-chaos-retention-{seed}-{Guid.NewGuid():N}", "ApplyRetention");

        // The stack is shared with the other tests: what their messages left in _error queues is not the campaign's.
        var before = new Dictionary<string, long>();
        foreach (var queue in await Stack.Management.Queues(Stack.VirtualHost))
        {
            before[queue.Name] = await Publisher.ReadyCount(queue.Name) ?? 0;
        }

        try
        {
            while (plan.Count < runs)
            {
                var wave = Enumerable.Range(0, Math.Min(4, runs - plan.Count)).Select(_ => Plan(random, sources, revisions)).ToList();
                plan.AddRange(wave);
                var messages = Enumerable.Range(0, random.Next(0, 3))
                    .Select(_ => ((HostileInput.Kind)random.Next(0, 7), Guid.NewGuid())).ToList();
                hostile.AddRange(messages);
                var publishing = Task.WhenAll([.. wave.Select(PublishAsync), .. messages.Select(m => Retrying(() => HostileInput.PublishAsync(Publisher, m.Item1, m.Item2)))]);
                var fault = schedule[(plan.Count - 1) / 4];
                await Task.Delay(random.Next(0, 400));
                var injected = await InjectAsync(fault, random);
                faults[injected] = faults.GetValueOrDefault(injected) + 1;
                await publishing;
                foreach (var run in wave)
                {
                    await WaitForEndAsync(run);
                }

                // Late batches: only once their run is final, with keys the run never had.
                foreach (var run in wave.Where(r => r.Scenario == Scenario.LateBatch))
                {
                    await Send(run.Run.Scraped(new Batch("late", [Items.Numbered("late", random.Next(1, 1000))])));
                }
            }

            var mismatches = new List<string>();
            var performed = faults.Where(f => f.Key != nameof(Fault.None)).Sum(f => f.Value);
            if (performed != schedule.Count(f => f != Fault.None))
            {
                mismatches.Add($"{performed} faults performed, {schedule.Count(f => f != Fault.None)} planned");
            }

            if (schedule.Count >= FaultKinds.Length && FaultKinds.Where(k => !faults.Keys.Any(f => f == k.ToString() || f.StartsWith($"{k} ", StringComparison.Ordinal))).ToList() is { Count: > 0 } missing)
            {
                mismatches.Add($"fault kinds never performed: {string.Join(", ", missing)}");
            }

            await CheckRunsAsync(plan, mismatches);
            await CheckHostileAsync(hostile, mismatches);
            foreach (var source in sources)
            {
                await CheckSourceAsync(source, plan.Where(r => r.Run.Source == source).ToList(), mismatches);
            }

            var (queues, reasons) = await QueuesAsync(before, hostile, mismatches);
            var notifications = await downstream.DrainAsync(TimeSpan.FromSeconds(3));
            CheckNotifications(plan, notifications, mismatches);
            await CheckNoRunPromotedTwiceAsync(sources, mismatches);
            var occurrences = CheckRetentionOccurrences(await retention.DrainAsync(TimeSpan.FromSeconds(3)), DateTime.UtcNow - started, mismatches);
            var watchdogRestarts = Stack.WatchdogRestarts - restartsBefore;
            var summary = Summary(seed, (orchestrators, consumers), plan, faults, hostile, queues, reasons, watchdogRestarts, notifications, occurrences, mismatches);
            Output.WriteLine(summary);
            if (Environment.GetEnvironmentVariable("CHAOS_SUMMARY") is { Length: > 0 } file)
            {
                await File.WriteAllTextAsync(file, summary);

                // The hosts' whole log of the campaign beside the summary (the test output keeps only its tail).
                await File.WriteAllLinesAsync(Path.ChangeExtension(file, ".hosts.log"), Stack.Logs.Since(logMark, int.MaxValue));
            }

            Assert.True(mismatches.Count == 0, $"seed {seed}: {mismatches.Count} mismatches{Environment.NewLine}{string.Join(Environment.NewLine, mismatches.Take(40))}");
        }
        finally
        {
            await Stack.Scale(1, 1);
        }
    }

    /// <summary>
    /// One fault per wave: every kind once, in an order the seed chooses, when there are waves enough; the rest (and a short
    /// campaign's all) drawn at random, no fault among them.
    /// </summary>
    private static List<Fault> PlanFaults(Random random, int waves)
    {
        var schedule = new List<Fault>();
        if (waves >= FaultKinds.Length)
        {
            schedule.AddRange(FaultKinds.OrderBy(_ => random.Next()));
        }

        while (schedule.Count < waves)
        {
            schedule.Insert(random.Next(schedule.Count + 1), (Fault)random.Next(0, FaultKinds.Length + 1));
        }

        return schedule;
    }

    /// <summary>Waits for the run to end; when it does not, says where its messages are before failing.</summary>
    private async Task WaitForEndAsync(PlannedRun run)
    {
        try
        {
            await Db.WaitForFinalStatus(run.Run.RunId, Settle);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            var queues = await Stack.Management.Queues(Stack.VirtualHost);
            Output.WriteLine($"chaos: run {run.Run.RunId} ({run.Scenario}) did not end; queues: "
                + string.Join(", ", queues.Select(q => $"{q.Name} {q.Ready}+{q.Unacked} ({q.Consumers} consumers)")));
            Output.WriteLine(Stack.Logs.Tail(100, run.Run.RunId.ToString()));
            Output.WriteLine(Stack.Logs.Tail(10, "romot"));
            throw;
        }
    }

    private static PlannedRun Plan(Random random, string[] sources, Dictionary<string, int[]> revisions)
    {
        var source = sources[random.Next(sources.Length)];
        var full = random.NextDouble() < 0.7;
        var scenario = (Scenario)random.Next(0, 8);
        var current = revisions[source];
        var share = full ? 0.7 + random.NextDouble() * 0.3 : 0.1 + random.NextDouble() * 0.2;
        var numbers = Enumerable.Range(1, Universe).Where(_ => random.NextDouble() < share).DefaultIfEmpty(1).ToList();
        var items = new List<Item>();
        foreach (var number in numbers)
        {
            if (current[number] == 0 || random.NextDouble() < 0.25)
            {
                current[number]++;
            }

            items.Add(Items.Numbered("item", number, current[number]));
        }

        var run = new ScrapeRun(source, full ? "ingestion" : "sync");
        if (scenario == Scenario.HostileItems)
        {
            items.AddRange(HostileInput.OddValidItems(run.RunId));
        }

        var shuffled = items.OrderBy(_ => random.Next()).ToList();
        var batches = shuffled.InBatches(random.Next(3, 12));
        if (scenario == Scenario.HostileItems)
        {
            batches = [.. batches.Select(b => b with { Items = [.. b.Items, .. HostileInput.RejectedItems(b.BatchId)] })];
        }
        else if (scenario == Scenario.OversizeBatch)
        {
            // One batch over MAX_BATCH_ITEMS (10,000): refused whole, and the run fails without touching projects.
            batches = [.. batches, new Batch("oversize", [.. Enumerable.Range(1, 10_001).Select(i => new Item($"big-{i}"))])];
        }

        return new PlannedRun(run, scenario, shuffled, batches);
    }

    /// <summary>Publishes like a careful scraper: a message the broker did not confirm is published again.</summary>
    private async Task Send(params OutgoingMessage[] messages)
    {
        foreach (var message in messages)
        {
            await Retrying(() => Publisher.Publish(message));
        }
    }

    private static async Task Retrying(Func<Task> publish)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await publish();
                return;
            }
            catch (Exception ex) when (attempt < 60 && ex is not Xunit.Sdk.XunitException)
            {
                await Task.Delay(500);
            }
        }
    }

    private async Task PublishAsync(PlannedRun planned)
    {
        var run = planned.Run;
        switch (planned.Scenario)
        {
            case Scenario.DuplicateBatch:
                await Send([run.Requested(), run.Started(), .. planned.Batches.Select(run.Scraped), run.Scraped(planned.Batches[0]), run.Completed(planned.Batches)]);
                break;
            case Scenario.CompletionFirst:
                await Send([run.Completed(planned.Batches), .. planned.Batches.Select(run.Scraped).Reverse(), run.Started(), run.Requested()]);
                break;
            case Scenario.ScraperFailure:
                await Send([run.Requested(), run.Started(), .. planned.Batches.Take(1).Select(run.Scraped), run.Failed("UPSTREAM_UNAVAILABLE", "chaos: the site went away")]);
                break;
            case Scenario.MissingBatch:
                await Send([run.Requested(), run.Started(), .. planned.Batches.Skip(1).Select(run.Scraped), run.Completed(planned.Batches)]);
                break;
            default:
                await Send([.. run.Whole(planned.Batches)]);
                break;
        }
    }

    /// <summary>
    /// Injects the fault and returns its name (with the instance, for one instance). A fault that cannot be performed (a
    /// tool missing, nothing to close) throws: the campaign must never pass by doing less than it says.
    /// </summary>
    private async Task<string> InjectAsync(Fault fault, Random random)
    {
        Output.WriteLine($"chaos: fault {fault}");
        var (orchestrators, consumers) = Stack.Instances;
        switch (fault)
        {
            case Fault.KillConsumers:
                await Stack.RestartConsumers(Consumers);
                break;
            case Fault.KillOrchestrator:
                await Stack.RestartOrchestrator(Orchestrator);
                break;
            case Fault.KillOneConsumers:
                await Stack.RestartConsumersInstance(random.Next(consumers), Consumers);
                break;
            case Fault.KillOneOrchestrator:
                await Stack.RestartOrchestratorInstance(random.Next(orchestrators), Orchestrator);
                break;
            case Fault.TerminateDatabaseBackends:
                var terminated = await Db.Count("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
                NpgsqlConnection.ClearAllPools();
                Assert.True(terminated > 0, "TerminateDatabaseBackends terminated no backend: the hosts had no connection to the database");
                break;
            case Fault.CloseAmqpConnections:
                var closed = await Stack.Management.CloseConnections(Stack.VirtualHost, keep: "runsaga-integration-tests");
                Output.WriteLine($"chaos: closed {closed} AMQP connections");
                Assert.True(closed > 0, "CloseAmqpConnections closed no connection: the hosts had none open, or the management API refused");
                break;
            case Fault.RestartRabbitMq:
                // The whole broker goes away for a moment, every node: the hosts and this test's publisher reconnect.
                foreach (var node in Nodes.Reverse())
                {
                    await RunAsync("rabbitmqctl", "-n", node, "stop_app");
                }

                await Task.Delay(1000);
                await Task.WhenAll(Nodes.Select(node => RunAsync("rabbitmqctl", "-n", node, "start_app")));
                await BrokerHealthyAsync();
                break;
            case Fault.KillBrokerNode:
                return $"{fault} {await KillNodeAsync(Nodes[random.Next(Nodes.Count)])}";
            case Fault.KillBusiestQueueLeader:
                // The node leading the queue with the most messages (staging, usually): its queues elect new leaders.
                var busiest = (await Stack.Management.QueueLeaders(Stack.VirtualHost)).FirstOrDefault();
                Assert.True(busiest.Leader is not null, "no quorum queue has a leader: the campaign's queues are not quorum queues on the cluster");
                Output.WriteLine($"chaos: {busiest.Name} ({busiest.Messages} messages) is led by {busiest.Leader}");
                return $"{fault} {await KillNodeAsync(busiest.Leader)}";
            case Fault.StopBrokerNode:
                var stopped = Nodes[random.Next(Nodes.Count)];
                await RunAsync("rabbitmqctl", "-n", stopped, "stop_app");
                await Task.Delay(random.Next(1000, 5000));
                await RunAsync("rabbitmqctl", "-n", stopped, "start_app");
                await BrokerHealthyAsync();
                break;
            case Fault.PartitionBrokerNode:
                return $"{fault} {await PartitionAsync(Nodes[random.Next(Nodes.Count)], TimeSpan.FromMilliseconds(random.Next(3000, 8000)))}";
            case Fault.RestartPostgres:
                // The primary the hosts use now (its cluster_name, Debian's "version/name"), restarted.
                var (version, name) = await PrimaryClusterAsync();
                await RunAsync("pg_ctlcluster", version, name, "restart");
                NpgsqlConnection.ClearAllPools();
                await DatabaseAnswersAsync("PostgreSQL back after the restart");
                break;
            case Fault.FailOverPostgres:
                return $"{fault} {await FailOverAsync()}";
        }

        return fault.ToString();
    }

    private static IReadOnlyList<string> Nodes => TestSettings.ClusterRabbitNodes;

    /// <summary>SIGKILL of a broker node's Erlang VM, then the node started again as scripts/lib/cluster.sh starts it.</summary>
    private async Task<string> KillNodeAsync(string node)
    {
        var index = Nodes.ToList().IndexOf(node) + 1;
        Assert.True(index > 0, $"{node} is not one of the cluster's nodes ({string.Join(", ", Nodes)}): the campaign could not start it again");
        var pid = (await RunAsync("rabbitmqctl", "-n", node, "eval", "list_to_integer(os:getpid()).")).Trim();
        Assert.True(int.TryParse(pid, out _), $"rabbitmqctl eval did not give {node}'s process id: '{pid}'");
        await RunAsync("kill", "-9", pid);
        Output.WriteLine($"chaos: killed broker node {node} (pid {pid}) with SIGKILL");
        await Task.Delay(1000);
        await RunAsync("bash", "-c", $"source '{Stack.RepositoryRoot}/scripts/lib/services.sh' && runsaga_cluster_start_node {index}");
        await BrokerHealthyAsync();
        return node;
    }

    /// <summary>
    /// Cuts <paramref name="node"/> off from the other two for <paramref name="duration"/>: it is given another Erlang cookie
    /// for them and its connections to them are dropped, so neither side can reach the other (the CLI, which uses the
    /// default cookie, still can). With pause_minority the cut-off node stops serving; after the cookie is restored it
    /// rejoins. The hosts connected to it reconnect to the others.
    /// </summary>
    private async Task<string> PartitionAsync(string node, TimeSpan duration)
    {
        var others = string.Join(", ", Nodes.Where(n => n != node).Select(n => $"'{n}'"));
        await RunAsync("rabbitmqctl", "-n", node, "eval",
            $"[erlang:set_cookie(N, runsaga_chaos_partition) || N <- [{others}]], [erlang:disconnect_node(N) || N <- [{others}]], ok.");
        Output.WriteLine($"chaos: partitioned {node} from {others} for {duration.TotalSeconds:0.0} s");
        await Eventually(async () => (await Stack.Management.Nodes()).Count(n => n.Running) < Nodes.Count, $"the cluster sees {node} as down");
        await Task.Delay(duration);
        await RunAsync("rabbitmqctl", "-n", node, "eval",
            $"[erlang:set_cookie(N, erlang:get_cookie()) || N <- [{others}]], [net_adm:ping(N) || N <- [{others}]], ok.");
        await BrokerHealthyAsync();
        return node;
    }

    /// <summary>Waits until every node of the cluster runs its RabbitMQ application again (2 minutes at most).</summary>
    private Task BrokerHealthyAsync() => Eventually(async () =>
    {
        try
        {
            return (await Stack.Management.Nodes()) is { } nodes && nodes.Count == Nodes.Count && nodes.All(n => n.Running)
                && await Stack.Management.Queues(Stack.VirtualHost) is { Count: > 0 };
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }, "every broker node running again", TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(500));

    /// <summary>The Debian cluster (version, name) the hosts' primary is, from its cluster_name.</summary>
    private async Task<(string Version, string Name)> PrimaryClusterAsync()
    {
        var cluster = (await Db.Query("SELECT current_setting('cluster_name')", r => r.GetString(0))).Single().Split('/');
        Assert.True(cluster.Length == 2, $"PostgreSQL's cluster_name '{string.Join('/', cluster)}' is not Debian's version/name: pg_ctlcluster cannot act on it");
        return (cluster[0], cluster[1]);
    }

    /// <summary>
    /// The primary is killed (immediate stop: no checkpoint, no goodbye to its clients), the standby promoted, and the old
    /// primary made the new standby from a fresh base backup (scripts/lib/cluster.sh). The hosts find the new primary through
    /// their multi-host connection string. Synchronous replication: what a host saw committed is on the new primary.
    /// </summary>
    private async Task<string> FailOverAsync()
    {
        var (version, old) = await PrimaryClusterAsync();
        var clusters = TestSettings.ClusterPostgresClusters.Select(c => c.Split('/')).ToList();
        var oldIndex = clusters.FindIndex(c => c[0] == version && c[1] == old);
        Assert.True(oldIndex >= 0, $"the primary {version}/{old} is not one of the pair ({string.Join(", ", TestSettings.ClusterPostgresClusters)})");
        var promoted = clusters[1 - oldIndex][1];
        await RunAsync("pg_ctlcluster", version, old, "stop", "-m", "immediate");
        await RunAsync("pg_ctlcluster", version, promoted, "promote");
        NpgsqlConnection.ClearAllPools();
        await DatabaseAnswersAsync($"{version}/{promoted} promoted");
        Assert.Equal((version, promoted), await PrimaryClusterAsync());
        Output.WriteLine($"chaos: {version}/{old} killed, {version}/{promoted} promoted; rebuilding {old} as its standby");
        await RunAsync("bash", "-c", $"source '{Stack.RepositoryRoot}/scripts/lib/services.sh' && runsaga_pair_make_standby {1 - oldIndex} {oldIndex}");
        return $"{old} → {promoted}";
    }

    private Task DatabaseAnswersAsync(string what) => Eventually(async () =>
    {
        try
        {
            return await Db.Count("SELECT 1") == 1;
        }
        catch (NpgsqlException)
        {
            return false;
        }
    }, what, TimeSpan.FromMinutes(1));

    private static Task<string> RunAsync(string command, params string[] arguments) => Shell.Run(command, arguments);

    private async Task CheckRunsAsync(List<PlannedRun> plan, List<string> mismatches)
    {
        foreach (var run in plan)
        {
            var row = await Db.FindRun(run.Run.RunId);
            if (row is null || row.Status != run.ExpectedStatus || row.ErrorCode != run.ExpectedCode)
            {
                mismatches.Add($"run {run.Run.RunId} ({run.Scenario}): expected {run.ExpectedStatus} {run.ExpectedCode}, found {row?.Status} {row?.ErrorCode}");
            }
            else if (run.Scenario == Scenario.HostileItems && row.RejectedItems != run.RejectedItems)
            {
                mismatches.Add($"run {run.Run.RunId} (HostileItems): expected {run.RejectedItems} rejected items, found {row.RejectedItems}");
            }
        }
    }

    /// <summary>
    /// The notifications oracle: every run's outcome (<c>RunCompleted</c> or <c>RunFailed</c>, as its expected status) reached
    /// the downstream subscriber at least once, never the other one, and a repeat is the same message (the same messageId):
    /// the outbox delivers at least once and keeps the id.
    /// </summary>
    private static void CheckNotifications(List<PlannedRun> plan, List<ReceivedNotification> notifications, List<string> mismatches)
    {
        var byRun = notifications.ToLookup(n => MessageWatcher.GuidOf(n.Message, "runId"));
        foreach (var run in plan)
        {
            var expected = run.ExpectedStatus == "Completed" ? "RunCompleted" : "RunFailed";
            var seen = byRun[run.Run.RunId].ToList();
            if (!seen.Any(n => n.MessageName == expected))
            {
                mismatches.Add($"run {run.Run.RunId} ({run.Scenario}): no {expected} reached the downstream subscriber "
                    + $"(it saw {(seen.Count == 0 ? "nothing" : string.Join(", ", seen.Select(n => n.MessageName)))})");
            }

            foreach (var kind in seen.GroupBy(n => n.MessageName))
            {
                if (kind.Key != expected)
                {
                    mismatches.Add($"run {run.Run.RunId} ({run.Scenario}): the downstream subscriber saw {kind.Key}, expected only {expected}");
                }

                if (kind.Select(n => n.MessageId).Distinct().Count() > 1)
                {
                    mismatches.Add($"run {run.Run.RunId}: {kind.Count()} × {kind.Key} with different message ids ({string.Join(", ", kind.Select(n => n.MessageId))})");
                }
            }
        }
    }

    /// <summary>
    /// Hostile messages never make a run: no row for their run ids, none for the empty id. The batch of an unknown run
    /// is staged and waits as an orphan for retention (docs/retention.md); the others stage nothing.
    /// </summary>
    private async Task CheckHostileAsync(List<(HostileInput.Kind Kind, Guid RunId)> hostile, List<string> mismatches)
    {
        if (await Db.FindRun(Guid.Empty) is { } empty)
        {
            mismatches.Add($"a run with the empty id exists: {empty.Status} {empty.ErrorCode}");
        }

        foreach (var (kind, runId) in hostile)
        {
            var staged = await Db.Count("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", runId);
            var row = await Db.FindRun(runId);
            if (HostileInput.ExpectedRunError(kind) is { } error)
            {
                if (row is null || row.Status != "Failed" || row.ErrorCode != error)
                {
                    mismatches.Add($"hostile {kind} {runId}: the run should be Failed {error}, but it is {(row is null ? "missing" : $"{row.Status} {row.ErrorCode}")}");
                }
            }
            else if (row is not null)
            {
                mismatches.Add($"hostile {kind} {runId}: made a run ({row.Status} {row.ErrorCode})");
            }

            if (staged != HostileInput.ExpectedStagedBatches(kind))
            {
                mismatches.Add($"hostile {kind} {runId}: {staged} batches staged");
            }
        }
    }

    /// <summary>
    /// The oracle: the completed runs of the source, in the order they were promoted, applied to an empty table. An
    /// item is created by the first run that carried it, updated by each later run that carried other content, and
    /// last confirmed by the last run that carried it. Failed runs change nothing.
    /// </summary>
    private async Task CheckSourceAsync(string source, List<PlannedRun> runs, List<string> mismatches)
    {
        var order = await Db.Query("SELECT run_id FROM runsaga.run_promotions WHERE source = @p0 ORDER BY promoted_at, run_id", r => r.GetGuid(0), source);
        var completed = runs.Where(r => r.ExpectedStatus == "Completed").ToDictionary(r => r.Run.RunId);
        if (!order.ToHashSet().SetEquals(completed.Keys))
        {
            mismatches.Add($"{source}: promoted runs {string.Join(",", order)} are not the completed runs {string.Join(",", completed.Keys)}");
            return;
        }

        var expected = new Dictionary<string, (Guid Created, Guid Updated, Guid Confirmed, string Title, int Updates)>();
        foreach (var runId in order)
        {
            foreach (var item in completed[runId].Items)
            {
                expected[item.Key!] = expected.TryGetValue(item.Key!, out var was)
                    ? was.Title == item.Title
                        ? was with { Confirmed = runId }
                        : (was.Created, runId, runId, item.Title!, was.Updates + 1)
                    : (runId, runId, runId, item.Title!, 0);
            }
        }

        var actual = (await Db.Query(
                "SELECT key, created_by_run_id, last_updated_by_run_id, last_confirmed_run_id, title FROM runsaga.projects WHERE source = @p0",
                r => (Key: r.GetString(0), Created: r.GetGuid(1), Updated: r.GetGuid(2), Confirmed: r.GetGuid(3), Title: r.GetString(4)), source))
            .ToDictionary(r => r.Key);
        var lineage = (await Db.Query(
                "SELECT key, count(*) FILTER (WHERE change = 'created'), count(*) FILTER (WHERE change = 'updated'), count(*) FROM runsaga.project_lineage WHERE source = @p0 GROUP BY key",
                r => (Key: r.GetString(0), Created: r.GetInt64(1), Updated: r.GetInt64(2), All: r.GetInt64(3)), source))
            .ToDictionary(r => r.Key);

        foreach (var key in expected.Keys.Union(actual.Keys).Order(StringComparer.Ordinal))
        {
            if (!expected.TryGetValue(key, out var want) || !actual.TryGetValue(key, out var have))
            {
                mismatches.Add($"{source}/{key}: expected {(expected.ContainsKey(key) ? "present" : "absent")}, found {(actual.ContainsKey(key) ? "present" : "absent")}");
                continue;
            }

            if ((have.Created, have.Updated, have.Confirmed, have.Title) != (want.Created, want.Updated, want.Confirmed, want.Title))
            {
                mismatches.Add($"{source}/{key}: expected created {want.Created} updated {want.Updated} confirmed {want.Confirmed} '{want.Title}', "
                    + $"found {have.Created} {have.Updated} {have.Confirmed} '{have.Title}'");
            }

            var log = lineage.GetValueOrDefault(key);
            if ((log.Created, log.Updated, log.All) != (1, want.Updates, 1 + want.Updates))
            {
                mismatches.Add($"{source}/{key}: lineage expected 1 created + {want.Updates} updated, found {log.Created} created + {log.Updated} updated of {log.All}");
            }
        }
    }

    /// <summary>
    /// Once everything settled: no message waits in a queue RunSaga consumes, and what is new in the <c>_error</c> and
    /// <c>_skipped</c> queues is exactly the hostile messages that belong there (a message the publisher had to send again
    /// may be there twice). Returns the queues and, per dead-letter queue, the reasons found.
    /// </summary>
    private async Task<(IReadOnlyList<(string Name, long Ready, long Unacked, long Consumers)> Queues, Dictionary<string, Dictionary<string, int>> Reasons)> QueuesAsync(
        Dictionary<string, long> before, List<(HostileInput.Kind Kind, Guid RunId)> hostile, List<string> mismatches)
    {
        static bool IsDeadLetter(string name) => name.EndsWith("_error", StringComparison.Ordinal) || name.EndsWith("_skipped", StringComparison.Ordinal);
        IReadOnlyList<(string Name, long Ready, long Unacked, long Consumers)> queues = [];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        do
        {
            queues = await Stack.Management.Queues(Stack.VirtualHost);
            if (queues.All(q => IsDeadLetter(q.Name) || q.Consumers == 0 || q.Ready + q.Unacked == 0))
            {
                break;
            }

            await Task.Delay(500);
        }
        while (DateTime.UtcNow < deadline);

        var expected = hostile.Select(h => HostileInput.ExpectedQueue(h.Kind)).OfType<string>()
            .GroupBy(q => q).ToDictionary(g => g.Key, g => g.Count());
        var reasons = new Dictionary<string, Dictionary<string, int>>();
        foreach (var queue in queues)
        {
            var had = before.GetValueOrDefault(queue.Name);
            var added = (IsDeadLetter(queue.Name) ? await Publisher.ReadyCount(queue.Name) ?? 0 : queue.Ready + queue.Unacked) - had;
            if (!IsDeadLetter(queue.Name))
            {
                if (queue.Consumers > 0 && queue.Ready + queue.Unacked > 0)
                {
                    mismatches.Add($"queue {queue.Name} still holds {queue.Ready} ready and {queue.Unacked} unacknowledged messages");
                }

                continue;
            }

            var want = expected.GetValueOrDefault(queue.Name);
            if (added > 0)
            {
                var messages = await Stack.Management.PeekMessages(Stack.VirtualHost, queue.Name, (int)(had + added));
                reasons[queue.Name] = messages.Skip((int)had)
                    .GroupBy(m => Reason(m.Header("MT-Fault-Message") ?? m.Header("MT-Reason") ?? "(no reason)"))
                    .ToDictionary(g => g.Key, g => g.Count());
            }

            // A republished hostile message may be there twice, never less than once.
            if (added < want || added > want * 2)
            {
                var found = reasons.TryGetValue(queue.Name, out var why) ? string.Join("; ", why.Select(r => $"{r.Value} × {r.Key}")) : "nothing";
                mismatches.Add($"{queue.Name}: {added} new messages, expected {want} hostile ones: {found}");
            }
        }

        return (queues, reasons);

        static string Reason(string text) => text.Length <= 110 ? text : text[..110] + "…";
    }

    /// <summary>
    /// No run was promoted twice: a second promotion of a run (by two Consumers at once, or a repeat that was not recognised)
    /// would write a second lineage row for its keys.
    /// </summary>
    private async Task CheckNoRunPromotedTwiceAsync(string[] sources, List<string> mismatches)
    {
        var twice = await Db.Query(
            "SELECT run_id, key, count(*) FROM runsaga.project_lineage WHERE source = ANY(@p0) GROUP BY run_id, key HAVING count(*) > 1",
            r => $"run {r.GetGuid(0)} wrote {r.GetInt64(2)} lineage rows for {r.GetString(1)}: promoted more than once", (object)sources);
        mismatches.AddRange(twice);
    }

    /// <summary>
    /// Each occurrence of the retention schedule sent one <c>ApplyRetention</c> (one message id, however often it was
    /// delivered), however many Orchestrators watched the schedule. Returns how many occurrences were seen.
    /// </summary>
    private static int CheckRetentionOccurrences(List<ReceivedNotification> commands, TimeSpan lasted, List<string> mismatches)
    {
        var scheduled = commands
            .Where(c => c.Message.TryGetProperty("scheduledFor", out var at) && at.ValueKind == System.Text.Json.JsonValueKind.String)
            .Where(c => !c.Message.TryGetProperty("source", out var source) || source.ValueKind == System.Text.Json.JsonValueKind.Null)
            .GroupBy(c => c.Message.GetProperty("scheduledFor").GetString())
            .ToList();
        foreach (var occurrence in scheduled.Where(g => g.Select(c => c.MessageId).Distinct().Count() > 1))
        {
            mismatches.Add($"the retention occurrence {occurrence.Key} was fired {occurrence.Select(c => c.MessageId).Distinct().Count()} times");
        }

        // RETENTION_SCHEDULE fires every 30 s: a campaign of more than a minute must have seen an occurrence.
        if (scheduled.Count == 0 && lasted > TimeSpan.FromSeconds(70))
        {
            mismatches.Add($"the retention schedule (every 30 s) sent no ApplyRetention in {lasted.TotalSeconds:0} s");
        }

        return scheduled.Count;
    }

    private static string Summary(
        int seed,
        (int Orchestrators, int Consumers) hosts,
        List<PlannedRun> plan,
        Dictionary<string, int> faults,
        List<(HostileInput.Kind Kind, Guid RunId)> hostile,
        IReadOnlyList<(string Name, long Ready, long Unacked, long Consumers)> queues,
        Dictionary<string, Dictionary<string, int>> reasons,
        int watchdogRestarts,
        List<ReceivedNotification> notifications,
        int retentionOccurrences,
        List<string> mismatches)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"chaos summary, seed {seed}");
        text.AppendLine(CultureInfo.InvariantCulture, $"  hosts                {hosts.Orchestrators} Orchestrators, {hosts.Consumers} Consumers");
        text.AppendLine(CultureInfo.InvariantCulture, $"  runs                 {plan.Count} ({plan.Count(r => r.Run.ProcessType == "sync")} sync)");
        foreach (var group in plan.GroupBy(r => r.Scenario).OrderBy(g => g.Key))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  scenario {group.Key,-15} {group.Count(),4} runs → expected {group.First().ExpectedStatus} {group.First().ExpectedCode}");
        }

        foreach (var (fault, count) in faults.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  fault {fault,-25} {count,4}");
        }

        foreach (var group in hostile.GroupBy(h => h.Kind).OrderBy(g => g.Key))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  hostile {group.Key,-18} {group.Count(),4} messages → {HostileInput.ExpectedQueue(group.Key) ?? "consumed (orphan batch)"}");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"  hostile items        {plan.Sum(r => r.RejectedItems)} rejected one by one (no key, NUL, key too long, data an array or 100 levels deep)");
        var codes = string.Join(", ", plan.Where(r => r.ExpectedCode is not null).GroupBy(r => r.ExpectedCode).OrderBy(g => g.Key).Select(g => $"{g.Count()} {g.Key}"));
        text.AppendLine(CultureInfo.InvariantCulture, $"  completed / failed   {plan.Count(r => r.ExpectedStatus == "Completed")} / {plan.Count(r => r.ExpectedStatus == "Failed")} ({codes})");
        foreach (var queue in queues.Where(q => reasons.ContainsKey(q.Name)).OrderBy(q => q.Name, StringComparer.Ordinal))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  dead letters {queue.Name,-28} {reasons[queue.Name].Values.Sum(),4} new");
            foreach (var (reason, count) in reasons[queue.Name])
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"      {count,4} × {reason}");
            }
        }

        var planned = plan.Select(r => r.Run.RunId).ToHashSet();
        var outcomes = notifications.Where(n => MessageWatcher.GuidOf(n.Message, "runId") is { } id && planned.Contains(id)).ToList();
        var repeats = outcomes.Count - outcomes.Select(n => (n.MessageName, MessageWatcher.GuidOf(n.Message, "runId"))).Distinct().Count();
        text.AppendLine(CultureInfo.InvariantCulture, $"  notifications        {outcomes.Count(n => n.MessageName == "RunCompleted")} RunCompleted, {outcomes.Count(n => n.MessageName == "RunFailed")} RunFailed received downstream, {repeats} of them repeats");
        text.AppendLine(CultureInfo.InvariantCulture, $"  retention schedule   {retentionOccurrences} occurrences, each fired once");
        text.AppendLine(CultureInfo.InvariantCulture, $"  watchdog restarts    {watchdogRestarts} (a host left without consumers exited with code 75 and was started again)");
        text.AppendLine(CultureInfo.InvariantCulture, $"  mismatches           {mismatches.Count}");
        return text.ToString();
    }
}
