using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Npgsql;

namespace RunSaga.Bench;

/// <summary>
/// RunSaga brought up for the benchmark as <c>scripts/up</c> brings it up, but on a fresh database
/// (<c>runsaga_bench</c>, dropped and created) and a fresh RabbitMQ virtual host (<c>runsaga-bench</c>), so the
/// numbers never include anyone's earlier data and the benchmark never touches the <c>runsaga</c> database.
/// The hosts are the Release builds, started as deployed (<c>dotnet &lt;host&gt;.dll</c>, JSON logs) with their
/// production defaults; their logs go to <c>.run/bench/</c>.
/// </summary>
public sealed class BenchStack : IAsyncDisposable
{
    public const string DatabaseName = "runsaga_bench";
    public const string VirtualHostName = "runsaga-bench";

    private readonly List<Host> hosts = [];
    private IReadOnlyDictionary<string, string> environment = new Dictionary<string, string>();
    private (int Orchestrators, int Consumers) counts;

    private BenchStack(BenchSettings settings, string connectionString, Uri amqp)
    {
        Settings = settings;
        ConnectionString = connectionString;
        Amqp = amqp;
        DataSource = NpgsqlDataSource.Create(connectionString);
    }

    public BenchSettings Settings { get; }

    public string ConnectionString { get; }

    public NpgsqlDataSource DataSource { get; }

    public Uri Amqp { get; }

    /// <summary>The first Orchestrator (the one that migrated the database).</summary>
    public Host Orchestrator => hosts.First(h => h.Kind == "orchestrator");

    /// <summary>Every Consumers instance.</summary>
    public IEnumerable<Host> Consumers => hosts.Where(h => h.Kind == "consumers");

    public IReadOnlyList<Host> Hosts => hosts;

    /// <summary>What runs: "1 Orchestrator + 1 Consumers", "2 Orchestrators + 2 Consumers".</summary>
    public string Shape { get; private set; } = string.Empty;

    /// <summary>
    /// Starts <paramref name="orchestrators"/> Orchestrators and <paramref name="consumers"/> Consumers as competing
    /// instances on the same database and virtual host (the first is named <c>orchestrator</c>, the next ones
    /// <c>orchestrator.2</c>, …; each Orchestrator has its own HTTP port).
    /// </summary>
    public static async Task<BenchStack> Start(BenchSettings settings, string logDirectory, int orchestrators = 1, int consumers = 1)
    {
        // Hosts of an earlier benchmark that was killed would reconnect to the new virtual host and take its messages.
        Host.StopLeftovers(logDirectory);

        var admin = new NpgsqlConnectionStringBuilder(settings.Postgres) { Database = "postgres", Pooling = false };
        await using (var connection = new NpgsqlConnection(admin.ConnectionString))
        {
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{DatabaseName}\" WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{DatabaseName}\"", connection);
            await create.ExecuteNonQueryAsync();
        }

        await RecreateVirtualHost(settings);

        var connectionString = new NpgsqlConnectionStringBuilder(settings.Postgres) { Database = DatabaseName }.ConnectionString;
        var stack = new BenchStack(settings, connectionString, settings.RabbitMqFor(VirtualHostName));
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__Postgres"] = connectionString,
            ["ConnectionStrings__RabbitMq"] = stack.Amqp.ToString(),
            ["LOG_FORMAT"] = "json",
            ["MASSTRANSIT_USAGE_TELEMETRY"] = "false",
            ["ARCHIVE_BASE_PATH"] = Path.Combine(logDirectory, "archive"),
            ["Api__Keys__0__Name"] = "bench",
            ["Api__Keys__0__Key"] = $"bench-{Guid.NewGuid():N}",
            ["Api__Keys__0__Role"] = "reader",
            // The benchmark's throwaway database and virtual host use the development credentials (the superuser of the
            // local scripts, the broker's administrator), which a host refuses in Production; the trust boundaries are
            // the integration tests' subject, not the benchmark's.
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
        };

        stack.environment = environment;
        stack.counts = (orchestrators, consumers);
        await stack.StartHosts(environment, logDirectory);
        stack.Shape = $"{orchestrators} Orchestrator{(orchestrators == 1 ? string.Empty : "s")} + {consumers} Consumers";
        return stack;
    }

    /// <summary>
    /// Stops every host and starts the same shape again on the same database and virtual host, with
    /// <paramref name="overrides"/> on top of the benchmark's settings (e.g. <c>RUN_HISTORY=false</c>); logs go to
    /// <paramref name="logDirectory"/>. The new hosts are cold: warm them before measuring.
    /// </summary>
    public async Task RestartHosts(IReadOnlyDictionary<string, string> overrides, string logDirectory)
    {
        foreach (var host in hosts)
        {
            host.Dispose();
        }

        hosts.Clear();
        Directory.CreateDirectory(logDirectory);
        await StartHosts(new Dictionary<string, string>(environment.Concat(overrides).GroupBy(e => e.Key).Select(g => g.Last())), logDirectory);
    }

    private async Task StartHosts(IReadOnlyDictionary<string, string> settings, string logDirectory)
    {
        // The first Orchestrator migrates a fresh database before its bus starts; the Consumers need the schema.
        for (var i = 1; i <= counts.Orchestrators; i++)
        {
            hosts.Add(await Host.Start("orchestrator", i, Settings.HostAssembly("Orchestrator", "RunSaga.Orchestrator"),
                ["--urls", $"http://127.0.0.1:{FreePort()}"], settings, logDirectory));
        }

        for (var i = 1; i <= counts.Consumers; i++)
        {
            hosts.Add(await Host.Start("consumers", i, Settings.HostAssembly("Consumers", "RunSaga.Consumers"), [], settings, logDirectory));
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var host in hosts)
        {
            host.Dispose();
        }

        await DataSource.DisposeAsync();
    }

    private static async Task RecreateVirtualHost(BenchSettings settings)
    {
        var (user, password) = settings.RabbitMqCredentials;
        using var http = new HttpClient { BaseAddress = settings.RabbitManagement, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        var vhost = Uri.EscapeDataString(VirtualHostName);

        using (var deleted = await http.DeleteAsync($"api/vhosts/{vhost}"))
        {
            if (deleted.StatusCode is not (HttpStatusCode.NoContent or HttpStatusCode.NotFound or HttpStatusCode.OK))
            {
                throw new InvalidOperationException(
                    $"Could not delete the RabbitMQ virtual host {VirtualHostName} ({(int)deleted.StatusCode}): is the management plugin "
                    + $"enabled at {settings.RabbitManagement} (rabbitmq-plugins enable rabbitmq_management)?");
            }
        }

        (await http.PutAsync($"api/vhosts/{vhost}", new StringContent("{}", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        var permissions = new StringContent("""{"configure":".*","write":".*","read":".*"}""", Encoding.UTF8, "application/json");
        (await http.PutAsync($"api/permissions/{vhost}/{Uri.EscapeDataString(user)}", permissions)).EnsureSuccessStatusCode();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A host process; its output goes to <c>&lt;name&gt;.log</c>. Memory is read from <c>/proc</c>.</summary>
    public sealed class Host : IDisposable
    {
        private readonly Process process;
        private readonly StreamWriter log;
        private readonly TaskCompletionSource busStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private bool disposed;

        private Host(string kind, string name, Process process, StreamWriter log, string logPath)
        {
            Kind = kind;
            Name = name;
            this.process = process;
            this.log = log;
            LogPath = logPath;
        }

        /// <summary><c>orchestrator</c> or <c>consumers</c>.</summary>
        public string Kind { get; }

        /// <summary>The kind for the first instance, then <c>kind.2</c>, <c>kind.3</c>, …</summary>
        public string Name { get; }

        public string LogPath { get; }

        public int Id => process.Id;

        public static async Task<Host> Start(
            string kind, int instance, string assembly, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string logDirectory)
        {
            if (!File.Exists(assembly))
            {
                throw new FileNotFoundException($"{assembly} is missing: build the solution first (dotnet build RunSaga.sln -c Release).", assembly);
            }

            var info = new ProcessStartInfo("dotnet")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = Path.GetDirectoryName(assembly)!,
            };
            info.ArgumentList.Add(assembly);
            foreach (var argument in arguments)
            {
                info.ArgumentList.Add(argument);
            }

            foreach (var (key, value) in environment)
            {
                info.Environment[key] = value;
            }

            var name = instance == 1 ? kind : $"{kind}.{instance}";
            var logPath = Path.Combine(logDirectory, $"{name}.log");
            var log = new StreamWriter(logPath, append: false) { AutoFlush = true };
            var process = new Process { StartInfo = info, EnableRaisingEvents = true };
            var host = new Host(kind, name, process, log, logPath);
            process.OutputDataReceived += (_, e) => host.Line(e.Data);
            process.ErrorDataReceived += (_, e) => host.Line(e.Data);
            process.Start();
            File.WriteAllText(Path.Combine(logDirectory, $"{name}.pid"), process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            AppDomain.CurrentDomain.ProcessExit += (_, _) => host.Dispose();
            Console.CancelKeyPress += (_, _) => host.Dispose();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();

            var started = await Task.WhenAny(host.busStarted.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromMinutes(2)));
            if (started != host.busStarted.Task)
            {
                throw new InvalidOperationException(
                    $"The {name} host did not start its bus (exited: {process.HasExited}); see {logPath}.");
            }

            return host;
        }

        /// <summary>Kills the hosts named in <c>&lt;name&gt;.pid</c> files of <paramref name="logDirectory"/> that still run.</summary>
        public static void StopLeftovers(string logDirectory)
        {
            foreach (var pidFile in Directory.EnumerateFiles(logDirectory, "*.pid"))
            {
                if (int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid)
                    && File.Exists($"/proc/{pid}/cmdline")
                    && File.ReadAllText($"/proc/{pid}/cmdline").Contains("RunSaga.", StringComparison.Ordinal))
                {
                    Console.WriteLine($"[bench] stopping host {pid} left over from an earlier benchmark ({Path.GetFileName(pidFile)})");
                    using var leftover = Process.GetProcessById(pid);
                    leftover.Kill(entireProcessTree: true);
                    leftover.WaitForExit(10_000);
                }

                File.Delete(pidFile);
            }
        }

        /// <summary>Resident memory now (VmRSS), in bytes.</summary>
        public long ResidentBytes() => ReadStatus("VmRSS:");

        public void Dispose()
        {
            try
            {
                if (!disposed && !process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            lock (log)
            {
                if (!disposed)
                {
                    disposed = true;
                    process.Dispose();
                    log.Dispose();
                }
            }
        }

        private void Line(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (log)
            {
                if (!disposed)
                {
                    log.WriteLine(line);
                }
            }

            if (line.Contains("Bus started", StringComparison.Ordinal))
            {
                busStarted.TrySetResult();
            }
        }

        private long ReadStatus(string field)
        {
            try
            {
                foreach (var line in File.ReadLines($"/proc/{process.Id}/status"))
                {
                    if (line.StartsWith(field, StringComparison.Ordinal))
                    {
                        var kb = line[field.Length..].Trim().Split(' ')[0];
                        return long.Parse(kb, System.Globalization.CultureInfo.InvariantCulture) * 1024;
                    }
                }
            }
            catch (IOException)
            {
                // The process ended.
            }

            return 0;
        }
    }
}

/// <summary>
/// Where PostgreSQL and RabbitMQ are: the environment variables the hosts read, with the same defaults as
/// <c>scripts/up</c>. The benchmark makes its own database and virtual host next to the ones these name.
/// </summary>
public sealed class BenchSettings(string repositoryRoot)
{
    public string RepositoryRoot { get; } = repositoryRoot;

    public string Postgres { get; } = Read("ConnectionStrings__Postgres") ?? "Host=localhost;Port=5432;Database=runsaga;Username=runsaga;Password=runsaga;SSL Mode=Disable";

    /// <summary>The broker (host and port; ConnectionStrings__RabbitMq or localhost:5672).</summary>
    public Uri RabbitMq { get; } = new(Read("ConnectionStrings__RabbitMq") ?? "amqp://localhost:5672/");

    public Uri RabbitManagement { get; } = new(Read("RABBITMQ_MANAGEMENT_URL") ?? "http://localhost:15672/");

    /// <summary>
    /// The broker's administrator (RABBITMQ_ADMIN_USER / RABBITMQ_ADMIN_PASSWORD, which scripts/bench exports from
    /// ~/.config/runsaga/credentials.env). The benchmark measures throughput, not the trust boundaries: its hosts and its publisher
    /// all log in as the administrator, in the benchmark's own virtual host.
    /// </summary>
    public (string User, string Password) RabbitMqCredentials =>
        Read("RABBITMQ_ADMIN_USER") is { } user && Read("RABBITMQ_ADMIN_PASSWORD") is { } password
            ? (user, password)
            : throw new InvalidOperationException(
                "RABBITMQ_ADMIN_USER and RABBITMQ_ADMIN_PASSWORD are not set: run the benchmark through scripts/bench, which creates "
                + "the broker's users and exports them.");

    public Uri RabbitMqFor(string virtualHost)
    {
        var (user, password) = RabbitMqCredentials;
        var port = RabbitMq.IsDefaultPort ? string.Empty : $":{RabbitMq.Port}";
        return new Uri($"{RabbitMq.Scheme}://{Uri.EscapeDataString(user)}:{Uri.EscapeDataString(password)}@{RabbitMq.Host}{port}/{Uri.EscapeDataString(virtualHost)}");
    }

    /// <summary>The host built in the benchmark's own configuration (…/bin/&lt;Configuration&gt;/net10.0/).</summary>
    public string HostAssembly(string project, string assembly)
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = output.Parent?.Name ?? "Release";
        return Path.Combine(RepositoryRoot, "src", project, "bin", configuration, output.Name, $"{assembly}.dll");
    }

    public static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "RunSaga.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("RunSaga.sln not found above the benchmark's build output; run it from the repository (scripts/bench).");
    }

    private static string? Read(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
}
