using System.Text.RegularExpressions;
using RunSaga.IntegrationTests.Fixture;

namespace RunSaga.IntegrationTests.Security;

/// <summary>
/// docker-compose.yml as shipped is safe by default (docs/security.md): nothing published on all interfaces, the
/// management UI not published, no password in the file (each is a required ${VARIABLE} with no default), and the .env
/// that holds them kept out of git. (scripts/test also runs `docker-compose config -q` on it.)
/// </summary>
public sealed partial class When_the_shipped_deployment_is_read
{
    private static readonly string Root = RepositoryLayout.Discover().Root;

    [Fact]
    public void Should_publish_no_port_on_all_interfaces_and_not_the_management_ui()
    {
        var ports = Entries(File.ReadAllText(Path.Combine(Root, "docker-compose.yml")))
            .Where(e => PortsPattern().IsMatch(e.Path)).ToList();
        Assert.Contains(ports, p => p.Path.StartsWith("services/postgres/", StringComparison.Ordinal));
        Assert.Contains(ports, p => p.Path.StartsWith("services/rabbitmq/", StringComparison.Ordinal));
        foreach (var (path, value) in ports)
        {
            Assert.True(value.StartsWith("127.0.0.1:", StringComparison.Ordinal),
                $"{path}: '{value}' publishes a port on all interfaces; bind it to 127.0.0.1 (or publish none)");
            Assert.False(value.EndsWith(":15672", StringComparison.Ordinal), $"{path}: the management UI is published by default");
        }
    }

    [Fact]
    public void Should_hold_no_password_only_required_variables()
    {
        var text = File.ReadAllText(Path.Combine(Root, "docker-compose.yml"));
        var checkedValues = 0;
        foreach (var (path, value) in Entries(text))
        {
            var key = path[(path.LastIndexOf('/') + 1)..];
            if (key.EndsWith("PASSWORD", StringComparison.Ordinal) || key.EndsWith("__Key", StringComparison.Ordinal))
            {
                Assert.True(RequiredVariable().IsMatch(value), $"{path}: '{value}' is not a required ${{VARIABLE:?…}} without a default");
                checkedValues++;
            }

            foreach (Match password in PasswordInConnectionString().Matches(value))
            {
                Assert.True(RequiredVariable().IsMatch(password.Groups[1].Value), $"{path}: a connection string's password is '{password.Groups[1].Value}'");
                checkedValues++;
            }

            foreach (Match password in PasswordInUri().Matches(value))
            {
                Assert.True(RequiredVariable().IsMatch(password.Groups[1].Value), $"{path}: an AMQP URI's password is '{password.Groups[1].Value}'");
                checkedValues++;
            }
        }

        Assert.True(checkedValues >= 10, $"only {checkedValues} passwords found in docker-compose.yml: the reader lost track of the file");
        foreach (var weak in new[] { "guest", "Password=runsaga;", ":runsaga@", "POSTGRES_PASSWORD: runsaga" })
        {
            Assert.DoesNotContain(weak, text, StringComparison.Ordinal);
        }

        Assert.Contains(File.ReadAllLines(Path.Combine(Root, ".gitignore")), line => line.Trim() is ".env" or "/.env");
        Assert.Contains("replace-me", File.ReadAllText(Path.Combine(Root, "deploy", "compose.env.example")), StringComparison.Ordinal);
    }

    [Fact]
    public void Should_keep_the_broker_cluster_file_as_safe_and_give_the_hosts_every_node()
    {
        var entries = Entries(File.ReadAllText(Path.Combine(Root, "deploy", "compose", "rabbitmq-cluster.yml"))).ToList();
        Assert.DoesNotContain(entries, e => e.Path.EndsWith("ports[]", StringComparison.Ordinal));

        // The Erlang cookie is a secret as much as the passwords: required, never a default.
        var secrets = entries.Where(e => e.Path.EndsWith("PASSWORD", StringComparison.Ordinal) || e.Path.EndsWith("_COOKIE", StringComparison.Ordinal)).ToList();
        Assert.True(secrets.Count >= 5, $"only {secrets.Count} secrets found in rabbitmq-cluster.yml: the reader lost track of the file");
        Assert.All(secrets, e => Assert.True(RequiredVariable().IsMatch(e.Value), $"{e.Path}: '{e.Value}' is not a required ${{VARIABLE:?…}} without a default"));
        Assert.Contains("RABBITMQ_ERLANG_COOKIE=", File.ReadAllText(Path.Combine(Root, "deploy", "compose.env.example")), StringComparison.Ordinal);

        // Both hosts connect with the list of the three nodes.
        foreach (var host in new[] { "orchestrator", "consumers" })
        {
            var nodes = Assert.Single(entries, e => e.Path == $"services/{host}/environment/RABBITMQ_NODES").Value.Split(',');
            Assert.Equal(["rabbitmq:5672", "rabbitmq-2:5672", "rabbitmq-3:5672"], nodes);
        }
    }

    /// <summary>
    /// The file as (path, value) pairs: <c>services/postgres/ports[]</c> → <c>127.0.0.1:5432:5432</c>. Enough YAML for a
    /// compose file in block style: keys, nested maps by indentation, list items; comments and quotes dropped.
    /// </summary>
    private static IEnumerable<(string Path, string Value)> Entries(string yaml)
    {
        var stack = new List<(int Indent, string Key)>();
        foreach (var raw in yaml.Split('\n'))
        {
            var content = raw.TrimStart();
            if (content.Length == 0 || content.StartsWith('#'))
            {
                continue;
            }

            var indent = raw.Length - content.Length;
            while (stack.Count > 0 && stack[^1].Indent >= indent)
            {
                stack.RemoveAt(stack.Count - 1);
            }

            var path = string.Join('/', stack.Select(s => s.Key));
            if (content.StartsWith("- ", StringComparison.Ordinal))
            {
                yield return (path + "[]", Unquote(content[2..]));
                continue;
            }

            var colon = content.IndexOf(": ", StringComparison.Ordinal) is var at and >= 0 ? at : (content.EndsWith(':') ? content.Length - 1 : -1);
            if (colon < 0)
            {
                continue;
            }

            var key = Unquote(content[..colon]);
            var value = colon + 1 < content.Length ? Unquote(content[(colon + 1)..]) : string.Empty;
            if (value.Length == 0)
            {
                stack.Add((indent, key));
            }
            else
            {
                yield return ((path.Length > 0 ? path + "/" : string.Empty) + key, value);
            }
        }
    }

    private static string Unquote(string value)
    {
        value = value.Trim();
        if (value.Length >= 2 && value[0] is '"' or '\'' && value[^1] == value[0])
        {
            return value[1..^1];
        }

        var comment = value.IndexOf(" #", StringComparison.Ordinal);
        return comment >= 0 ? value[..comment].Trim() : value;
    }

    [GeneratedRegex("^services/[^/]+/ports\\[\\]$")]
    private static partial Regex PortsPattern();

    /// <summary>${NAME:?message}: required, no default value.</summary>
    [GeneratedRegex("^\\$\\{[A-Z0-9_]+:\\?[^}]*\\}$")]
    private static partial Regex RequiredVariable();

    [GeneratedRegex("Password=(\\$\\{[^}]*\\}|[^;\"]*)")]
    private static partial Regex PasswordInConnectionString();

    [GeneratedRegex("amqps?://(?:\\$\\{[^}]*\\}|[^:/@]+):(\\$\\{[^}]*\\}|[^@]*)@")]
    private static partial Regex PasswordInUri();
}
