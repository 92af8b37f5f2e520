using System.Net;
using System.Net.Sockets;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Data;
using Xunit.Sdk;

namespace RunSaga.IntegrationTests.Fixture;

/// <summary>
/// The whole RunSaga stack for one test run, shared by every spec: a fresh PostgreSQL database and a fresh
/// RabbitMQ virtual host (so no test ever sees another run's queues or rows), and the real Orchestrator and
/// Consumers hosts as child processes, configured through the environment as in production with short
/// timeouts. Specs keep out of each other's way with their own source names and run ids.
/// <para>
/// One instance of each host by default; <see cref="Scale"/> runs several of each on the same broker and database,
/// competing for the same queues as in a deployment with replicas. The first Orchestrator is the one
/// <see cref="OrchestratorUrl"/> and <see cref="Api"/> talk to.
/// </para>
/// </summary>
public class RunSagaStack : IAsyncLifetime
{
    /// <summary>FLUSH_TIMEOUT of the hosts: how long a flush waits for missing batches.</summary>
    public static readonly TimeSpan FlushTimeout = TimeSpan.FromSeconds(4);

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    private readonly string suffix = Guid.NewGuid().ToString("N")[..12];
    private readonly IMessageSink diagnostics;

    public RunSagaStack(IMessageSink diagnostics)
        : this(diagnostics, StackTopology.Single)
    {
    }

    protected RunSagaStack(IMessageSink diagnostics, StackTopology topology)
    {
        this.diagnostics = diagnostics;
        Topology = topology;
    }

    /// <summary>The broker and database this stack runs on.</summary>
    public StackTopology Topology { get; }
    private RepositoryLayout layout = null!;
    private TestDatabase? database;
    private Dictionary<string, string> hostEnvironment = [];
    private readonly List<HostProcess?> orchestrators = [null];
    private readonly List<Uri?> orchestratorUrls = [null];
    private readonly List<HostProcess?> consumers = [null];
    private readonly object slots = new();
    private volatile bool disposing;
    private int consumersStarted;
    private int watchdogRestarts;

    public HostLog Logs { get; } = new();

    public RunSagaDb Db { get; private set; } = null!;

    /// <summary>Publishes as the stack's scraper user, exactly what a scraper may publish.</summary>
    public ScraperPublisher Publisher { get; private set; } = null!;

    /// <summary>
    /// Publishes as the Orchestrator's broker user with its user_id, as an operator's tool standing in for the
    /// Orchestrator would (commands such as ApplyRetention, which a scraper cannot publish).
    /// </summary>
    public ScraperPublisher HostPublisher { get; private set; } = null!;

    /// <summary>The stack's broker users (scraper, orchestrator, consumers), made from deploy/rabbitmq/permissions.</summary>
    public BrokerUsers BrokerUsers { get; private set; } = null!;

    /// <summary>The AMQP URI of the stack's virtual host as the broker's administrator (reads every queue).</summary>
    public Uri AdminAmqp { get; private set; } = null!;

    /// <summary>The repository root (deploy/, docs/, docker-compose.yml).</summary>
    public string RepositoryRoot => layout.Root;

    public RabbitManagement Management { get; private set; } = null!;

    public string VirtualHost { get; private set; } = null!;

    /// <summary>The AMQP URI of the test's virtual host as a scraper is given it: the scraper user's.</summary>
    public Uri Amqp { get; private set; } = null!;

    public string PythonExample => layout.PythonExample;

    public string TypeScriptExample => layout.TypeScriptExample;

    /// <summary>The <c>runsaga</c> CLI built next to the hosts.</summary>
    public string CliAssembly => layout.HostAssembly("Cli", "runsaga");

    /// <summary>The Orchestrator's API keys by role (named it-reader, it-operator, it-admin).</summary>
    public IReadOnlyDictionary<string, string> ApiKeys { get; } = new Dictionary<string, string>
    {
        ["reader"] = $"reader-{Guid.NewGuid():N}",
        ["operator"] = $"operator-{Guid.NewGuid():N}",
        ["admin"] = $"admin-{Guid.NewGuid():N}",
    };

    /// <summary>The first Orchestrator's base address (HTTP API, health, page).</summary>
    public Uri OrchestratorUrl => orchestratorUrls[0] ?? throw new InvalidOperationException("The Orchestrator has not started.");

    /// <summary>Every Orchestrator's base address (null for one that is not running).</summary>
    public IReadOnlyList<Uri?> OrchestratorUrls => orchestratorUrls;

    /// <summary>How many Orchestrators and Consumers the stack runs (see <see cref="Scale"/>).</summary>
    public (int Orchestrators, int Consumers) Instances => (orchestrators.Count, consumers.Count);

    /// <summary>An HTTP client for the API with the key of <paramref name="role"/> (none: no key).</summary>
    public HttpClient Api(string? role, int orchestrator = 0)
    {
        var http = new HttpClient { BaseAddress = orchestratorUrls[orchestrator], Timeout = TimeSpan.FromSeconds(60) };
        if (role is not null)
        {
            http.DefaultRequestHeaders.Add("X-Api-Key", ApiKeys.TryGetValue(role, out var key) ? key : role);
        }

        return http;
    }

    /// <summary>ARCHIVE_BASE_PATH of the hosts: a folder of this stack's own, removed with it.</summary>
    public string ArchiveDirectory { get; } = Path.Combine(Path.GetTempPath(), $"runsaga-it-archive-{Guid.NewGuid():N}");

    /// <summary>True when any Consumers instance runs.</summary>
    public bool ConsumersAreRunning => consumers.Any(c => c?.IsRunning == true);

    /// <summary>True when the first Orchestrator runs.</summary>
    public bool OrchestratorIsRunning => orchestrators[0]?.IsRunning == true;

    /// <summary>The process id of the first running Consumers host (for its memory in /proc).</summary>
    public int ConsumersProcessId => consumers.FirstOrDefault(c => c?.IsRunning == true)?.Id ?? throw new InvalidOperationException("The Consumers host is not running.");

    /// <summary>The process ids of the running hosts by kind (for their memory in /proc).</summary>
    public IReadOnlyList<(string Name, int ProcessId)> RunningHosts =>
        [.. orchestrators.Concat(consumers).Where(h => h?.IsRunning == true).Select(h => (h!.Name, h.Id))];

    /// <summary>The Orchestrator's environment, as the stack starts it (for running its other commands, e.g. <c>routes</c>).</summary>
    public IReadOnlyDictionary<string, string> OrchestratorEnvironment => Merge(AsHost(BrokerUsers.Orchestrator), null);

    /// <summary>The hosts' PostgreSQL connection (their own role: no superuser, owns nothing).</summary>
    public string HostsDatabaseConnectionString => database!.HostsConnectionString;

    /// <summary>The Orchestrator's assembly.</summary>
    public string OrchestratorAssembly => layout.HostAssembly("Orchestrator", "RunSaga.Orchestrator");

    /// <summary>How often a host exited with code 75 (its consumer watchdog) and the stack started it again.</summary>
    public int WatchdogRestarts => Volatile.Read(ref watchdogRestarts);

    public async Task InitializeAsync()
    {
        try
        {
            layout = RepositoryLayout.Discover();
            Report($"repository {layout.Root}, hosts from bin/{layout.Configuration}/{layout.TargetFramework}");

            database = await TestDatabase.Create(Topology.Postgres, $"runsaga_it_{suffix}");
            Db = new RunSagaDb(database.DataSource, Logs);

            var (admin, adminPassword) = TestSettings.RabbitMqAdmin;
            Management = new RabbitManagement(Topology.Management, admin, adminPassword);
            VirtualHost = $"runsaga-it-{suffix}";
            await Management.CreateVirtualHost(VirtualHost);
            await Management.GrantAll(VirtualHost, admin);
            AdminAmqp = TestSettings.RabbitMqFor(Topology.RabbitMq, VirtualHost, admin, adminPassword);
            BrokerUsers = await BrokerUsers.Create(Management, VirtualHost, $"it-{suffix}", layout.Root, Topology.RabbitMq);
            Amqp = BrokerUsers.Scraper.Amqp;
            Report($"database {database.Name}, virtual host {VirtualHost}, broker users {string.Join(", ", BrokerUsers.All.Select(u => u.Name))}");

            hostEnvironment = new Dictionary<string, string>
            {
                ["ConnectionStrings__Postgres"] = database.HostsConnectionString,
                ["ConnectionStrings__PostgresMigrations"] = database.OwnerConnectionString,
                ["RABBITMQ_HOST_USERS"] = $"{BrokerUsers.Orchestrator.Name},{BrokerUsers.Consumers.Name}",
                ["FLUSH_TIMEOUT"] = FlushTimeout.ToString("c"),
                ["DEADLINE_POLL_INTERVAL"] = "00:00:00.500",
                ["STAGING_SETTLE"] = "00:00:02",
                ["MASSTRANSIT_USAGE_TELEMETRY"] = "false",
                ["LOG_FORMAT"] = "text",
                ["ARCHIVE_BASE_PATH"] = ArchiveDirectory,
                ["Api__Keys__0__Name"] = "it-reader",
                ["Api__Keys__0__Key"] = ApiKeys["reader"],
                ["Api__Keys__0__Role"] = "reader",
                ["Api__Keys__1__Name"] = "it-operator",
                ["Api__Keys__1__Key"] = ApiKeys["operator"],
                ["Api__Keys__1__Role"] = "operator",
                ["Api__Keys__2__Name"] = "it-admin",
                ["Api__Keys__2__Key"] = ApiKeys["admin"],
                ["Api__Keys__2__Role"] = "admin",
                ["RABBITMQ_NODES"] = string.Join(',', Topology.RabbitMqNodes),
                ["DOTNET_ENVIRONMENT"] = "Production",
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
            };

            // The Orchestrator migrates the fresh database before its bus starts; the Consumers need the schema.
            await StartOrchestrator();
            await StartConsumers();
            Publisher = await ScraperPublisher.Connect(Amqp, AdminAmqp, nodes: Topology.RabbitMqNodes);
            HostPublisher = await ScraperPublisher.Connect(BrokerUsers.Orchestrator.Amqp, AdminAmqp, stampUserId: true, nodes: Topology.RabbitMqNodes);
        }
        catch (Exception ex)
        {
            var tail = Logs.Tail(100);
            Report($"the stack did not start: {ex.Message}{Environment.NewLine}{tail}");
            await DisposeAsync();
            throw new InvalidOperationException($"The RunSaga stack did not start: {ex.Message}{Environment.NewLine}{tail}", ex);
        }
    }

    /// <summary>
    /// Stops every Consumers process and starts new ones with <paramref name="overrides"/> on top of the stack's
    /// environment (none: the stack's own). A test that overrides restores the defaults before it ends.
    /// </summary>
    public async Task RestartConsumers(IReadOnlyDictionary<string, string>? overrides = null)
    {
        lock (slots)
        {
            for (var i = 0; i < consumers.Count; i++)
            {
                consumers[i]?.Dispose();
                consumers[i] = null;
            }
        }

        await StartConsumers(overrides);
    }

    /// <summary>SIGKILLs Consumers instance <paramref name="index"/> and starts a new one in its place (a supervisor's restart).</summary>
    public async Task RestartConsumersInstance(int index, IReadOnlyDictionary<string, string>? overrides = null)
    {
        await Stop(consumers[index]);
        consumers[index] = null;
        await StartConsumersInstance(index, overrides);
    }

    /// <summary>Stops Consumers instance <paramref name="index"/> and leaves it stopped until <see cref="RestartConsumersInstance"/>.</summary>
    public async Task StopConsumersInstance(int index)
    {
        HostProcess? host;
        lock (slots)
        {
            host = consumers[index];
            consumers[index] = null;
        }

        await Stop(host);
    }

    /// <summary>Starts every Consumers instance and waits until their buses are started.</summary>
    public async Task StartConsumers(IReadOnlyDictionary<string, string>? overrides = null)
    {
        if (ConsumersAreRunning)
        {
            throw new InvalidOperationException("The Consumers host is already running.");
        }

        await Task.WhenAll(Enumerable.Range(0, consumers.Count).Select(i => StartConsumersInstance(i, overrides)));
    }

    private async Task StartConsumersInstance(int index, IReadOnlyDictionary<string, string>? overrides)
    {
        var number = Interlocked.Increment(ref consumersStarted);
        var started = HostProcess.Start(
            index == 0 ? $"consumers#{number}" : $"consumers.{index + 1}#{number}",
            RepositoryLayout.Dotnet,
            layout.HostAssembly("Consumers", "RunSaga.Consumers"),
            [],
            Merge(AsHost(BrokerUsers.Consumers), overrides),
            Logs);
        Occupy(consumers, index, started);
        started.Exited += code => Supervise(started, code, () => Holds(consumers, index, started) ? StartConsumersInstance(index, overrides) : Task.CompletedTask);
        await started.WaitForLogLine("Bus started", StartTimeout);
    }

    /// <summary>
    /// Runs <paramref name="orchestratorCount"/> Orchestrators and <paramref name="consumersCount"/> Consumers from now on:
    /// stops every host and starts that many of each (the Orchestrators first, one after the other), with the overrides.
    /// </summary>
    public async Task Scale(
        int orchestratorCount,
        int consumersCount,
        IReadOnlyDictionary<string, string>? orchestratorOverrides = null,
        IReadOnlyDictionary<string, string>? consumersOverrides = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(orchestratorCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(consumersCount, 1);
        foreach (var host in Snapshot())
        {
            await Stop(host);
        }

        lock (slots)
        {
            Resize(orchestrators, orchestratorCount);
            Resize(orchestratorUrls, orchestratorCount);
            Resize(consumers, consumersCount);
        }
        for (var i = 0; i < orchestratorCount; i++)
        {
            await StartOrchestratorInstance(i, orchestratorOverrides);
        }

        await StartConsumers(consumersOverrides);

        static void Resize<T>(List<T?> list, int count)
        {
            list.Clear();
            list.AddRange(Enumerable.Repeat(default(T), count));
        }
    }

    /// <summary>
    /// What a supervisor (docker-compose's restart policy, systemd, scripts/up) does: a host that stops with exit code 75
    /// (its consumer watchdog asks for a fresh process) is started again with the same environment.
    /// </summary>
    private void Supervise(HostProcess host, int exitCode, Func<Task> start)
    {
        if (exitCode != 75 || disposing)
        {
            return;
        }

        Interlocked.Increment(ref watchdogRestarts);
        Logs.Append("fixture", $"{host.Name} exited with code 75 (its consumer watchdog asks for a restart): starting it again");
        _ = Task.Run(async () =>
        {
            try
            {
                await start();
            }
            catch (Exception ex)
            {
                Logs.Append("fixture", $"restarting after {host.Name} failed: {ex.Message}");
            }
        });
    }

    /// <summary>kill -9 of every Consumers process: their unacknowledged messages go back to their queues.</summary>
    public void KillConsumers()
    {
        if (!ConsumersAreRunning)
        {
            throw new InvalidOperationException("The Consumers host is not running.");
        }

        foreach (var host in consumers.Where(c => c?.IsRunning == true))
        {
            host!.Kill();
        }
    }

    public async Task DisposeAsync()
    {
        var failures = new List<Exception>();
        await Attempt(async () =>
        {
            if (Publisher is not null)
            {
                await Publisher.DisposeAsync();
            }

            if (HostPublisher is not null)
            {
                await HostPublisher.DisposeAsync();
            }
        }, failures);
        // No supervisor restarts a host from here on.
        disposing = true;
        foreach (var host in Snapshot())
        {
            await Attempt(() => Stop(host), failures);
        }
        await Attempt(async () =>
        {
            if (Management is not null && VirtualHost is not null)
            {
                await Management.DeleteVirtualHost(VirtualHost);
            }

            if (Management is not null && BrokerUsers is not null)
            {
                await BrokerUsers.Delete(Management);
            }
        }, failures);
        await Attempt(async () =>
        {
            if (database is not null)
            {
                await database.DisposeAsync();
            }
        }, failures);
        Management?.Dispose();
        await Attempt(() =>
        {
            if (Directory.Exists(ArchiveDirectory))
            {
                Directory.Delete(ArchiveDirectory, recursive: true);
            }

            return Task.CompletedTask;
        }, failures);

        if (failures.Count > 0)
        {
            throw new AggregateException("Cleaning up the RunSaga stack failed.", failures);
        }
    }

    /// <summary>
    /// Stops every Orchestrator and starts new ones (on new ports: <see cref="OrchestratorUrl"/> changes) with
    /// <paramref name="overrides"/> on top of the stack's environment. A test that overrides restores the defaults.
    /// </summary>
    public async Task RestartOrchestrator(IReadOnlyDictionary<string, string>? overrides = null)
    {
        for (var i = 0; i < orchestrators.Count; i++)
        {
            await Stop(orchestrators[i]);
            orchestrators[i] = null;
        }

        for (var i = 0; i < orchestrators.Count; i++)
        {
            await StartOrchestratorInstance(i, overrides);
        }
    }

    /// <summary>SIGKILLs Orchestrator instance <paramref name="index"/> and starts a new one in its place (a supervisor's restart).</summary>
    public async Task RestartOrchestratorInstance(int index, IReadOnlyDictionary<string, string>? overrides = null)
    {
        await Stop(orchestrators[index]);
        orchestrators[index] = null;
        await StartOrchestratorInstance(index, overrides);
    }

    private Task StartOrchestrator() => StartOrchestratorInstance(0, null);

    private async Task StartOrchestratorInstance(int index, IReadOnlyDictionary<string, string>? overrides)
    {
        var port = FreePort();
        var orchestrator = HostProcess.Start(
            index == 0 ? "orchestrator" : $"orchestrator.{index + 1}",
            RepositoryLayout.Dotnet,
            layout.HostAssembly("Orchestrator", "RunSaga.Orchestrator"),
            ["--urls", $"http://127.0.0.1:{port}"],
            Merge(AsHost(BrokerUsers.Orchestrator), overrides),
            Logs);
        Occupy(orchestrators, index, orchestrator);
        orchestrator.Exited += code => Supervise(orchestrator, code, () => Holds(orchestrators, index, orchestrator) ? StartOrchestratorInstance(index, overrides) : Task.CompletedTask);

        var url = new Uri($"http://127.0.0.1:{port}/");
        orchestratorUrls[index] = url;
        using var http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + StartTimeout;
        var last = "no answer yet";
        while (true)
        {
            if (!orchestrator.IsRunning)
            {
                throw new InvalidOperationException($"The Orchestrator exited during start ({last}).");
            }

            try
            {
                using var response = await http.GetAsync(new Uri("health/ready", UriKind.Relative));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    break;
                }

                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            }
            catch (HttpRequestException ex)
            {
                last = ex.Message;
            }
            catch (TaskCanceledException ex)
            {
                last = ex.Message;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The Orchestrator's /health/ready did not answer 200 within {StartTimeout}: {last}");
            }

            await Task.Delay(200);
        }

        await orchestrator.WaitForLogLine("Bus started", StartTimeout);
    }

    /// <summary>
    /// Puts <paramref name="host"/> in its slot and stops whatever was there: when a test's restart and a supervisor's
    /// restart of one slot cross, the later process wins and the earlier one is stopped, never left running unseen.
    /// </summary>
    private void Occupy(List<HostProcess?> list, int index, HostProcess host)
    {
        lock (slots)
        {
            var previous = list[index];
            list[index] = host;
            if (previous is not null && previous != host)
            {
                previous.Dispose();
            }
        }
    }

    private bool Holds(List<HostProcess?> list, int index, HostProcess host)
    {
        lock (slots)
        {
            return index < list.Count && list[index] == host;
        }
    }

    /// <summary>Every host process now (a supervisor may replace one in its slot meanwhile).</summary>
    private List<HostProcess?> Snapshot()
    {
        lock (slots)
        {
            return [.. consumers, .. orchestrators];
        }
    }

    private static Dictionary<string, string> AsHost(BrokerUser user) => new() { ["ConnectionStrings__RabbitMq"] = user.Amqp.ToString() };

    private IReadOnlyDictionary<string, string> Merge(IReadOnlyDictionary<string, string> host, IReadOnlyDictionary<string, string>? overrides) =>
        new Dictionary<string, string>(hostEnvironment.Concat(host).Concat(overrides ?? new Dictionary<string, string>())
            .GroupBy(e => e.Key).Select(g => g.Last()));

    private static Task Stop(HostProcess? host)
    {
        host?.Dispose();
        return Task.CompletedTask;
    }

    private static async Task Attempt(Func<Task> step, List<Exception> failures)
    {
        try
        {
            await step();
        }
        catch (Exception ex)
        {
            // Every cleanup step runs; the failures are reported together at the end.
            failures.Add(ex);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void Report(string message) => diagnostics.OnMessage(new DiagnosticMessage($"[RunSaga stack] {message}"));
}
