using System.Security.Cryptography;
using RabbitMQ.Client;
using RunSaga.IntegrationTests.Broker;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Security;

/// <summary>
/// A hostile publisher on the broker (docs/security.md): first with the scraper user's credentials, then with a host's
/// credentials but no validated identity, then as a host for runs in the wrong state. Every forged command is refused by
/// the broker or by a consumer (with the reason in its <c>_error</c> queue), and the victim source's <c>projects</c>,
/// its runs, their lineage, audit and staging rows, and the archive are byte-identical before and after.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_a_scraper_forges_commands(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>Every command and host event of the contracts: none of them is a scraper's to publish.</summary>
    private static readonly string[] HostMessages =
    [
        "FlushRun", "PromoteRun", "StampLineage", "FlushConfirmed", "FlushFailed", "ProjectsUpserted", "LineageStamped",
        "BatchRejected", "RunDeadlinePassed", "DeleteRun", "ArchiveRun", "PinRun", "RestoreRun", "UndeleteRun", "CancelRun",
        "ApplyRetention", "ReleaseRetention", "RunAccepted", "RunCompleted", "RunFailed",
    ];

    [Fact]
    public async Task Should_refuse_every_forged_command_and_leave_the_victims_data_byte_identical()
    {
        // The victim: two completed full runs (the first archived) and a run still scraping.
        var victim = NewSource("victim");
        var first = new ScrapeRun(victim);
        await CompleteRun(first, Items.Numbered(30).InBatches(10));
        var second = new ScrapeRun(victim);
        await CompleteRun(second, Items.Numbered(30, revision: 2).InBatches(10));
        await Send("ArchiveRun", new { runId = first.RunId, requestedBy = "it" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND archived_at IS NOT NULL", first.RunId);
        var open = new ScrapeRun(victim);
        await Publisher.Publish([open.Requested(), open.Started(), open.Scraped(new Batch("o1", Items.Numbered(5)))]);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", open.RunId);
        await Db.WaitForRun(open.RunId, r => r.Status == "Running", "Running");

        // The attacker's own items: a run of its own, and a batch under a run id the ledger has never seen.
        var attacker = new ScrapeRun(NewSource("attacker"));
        var evil = new Batch("evil", Items.Numbered(3, prefix: "evil"));
        await Publisher.Publish([attacker.Requested(), attacker.Started(), attacker.Scraped(evil)]);
        var orphan = Guid.NewGuid();
        await Publisher.Publish(new OutgoingMessage("ItemsScraped", new { runId = orphan, batchId = "evil", items = evil.Items }));
        await Db.WaitForRun(attacker.RunId, r => r.Status == "Running", "Running");
        await Db.WaitForRow("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", attacker.RunId);
        await Db.WaitForRow("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", orphan);

        var before = await Snapshot(victim);
        Assert.True(before.Split(Environment.NewLine).Length > 8, $"the first run's archive should be in the snapshot:{Environment.NewLine}{before}");

        // 1. The scraper user: the broker refuses every command and host event, declared or not, on every route.
        var scraper = new HostileBroker(Stack.Amqp);
        var forged = Forged(victim, first.RunId, second.RunId, open.RunId, attacker.RunId);
        foreach (var name in HostMessages)
        {
            var body = forged.TryGetValue(name, out var value) ? value : new { runId = open.RunId };
            foreach (var declare in new[] { true, false })
            {
                var verdict = await scraper.Publish($"RunSaga.Contracts:{name}", name, body, declare);
                Assert.True(verdict.ReplyCode == BrokerVerdict.AccessRefused,
                    $"{name} (declare: {declare}) from the scraper user: the broker should refuse it, but: {verdict}");
            }
        }

        foreach (var (exchange, routingKey) in new[]
        {
            ("runsaga.promotion", ""), ("runsaga.flush", ""), ("runsaga.lineage", ""), ("runsaga.retention", ""), ("runsaga.runs", ""),
            ("", "runsaga.promotion"), ("", "runsaga.retention"), ("", "runsaga.runs"), ("amq.fanout", ""), ("amq.topic", "x"),
        })
        {
            var verdict = await scraper.Publish(exchange, "PromoteRun", forged["PromoteRun"], declare: false, routingKey);
            Assert.True(verdict.ReplyCode == BrokerVerdict.AccessRefused,
                $"PromoteRun to exchange '{exchange}' routing key '{routingKey}' from the scraper user: {verdict}");
        }

        // A user_id it does not own: RabbitMQ validates it.
        var impersonated = await scraper.Publish("RunSaga.Contracts:ScrapeFailed", "ScrapeFailed",
            new { runId = open.RunId, errorCode = "FORGED", errorMessage = "forged" }, declare: true, userId: Stack.BrokerUsers.Orchestrator.Name);
        Assert.True(impersonated.ReplyCode == BrokerVerdict.PreconditionFailed, $"a user_id of the Orchestrator's from the scraper user: {impersonated}");

        // Nothing to read, declare, bind, purge or delete; no management API.
        foreach (var (what, operation) in new (string, Func<IChannel, Task>)[]
        {
            ("read runsaga.runs", c => c.BasicGetAsync("runsaga.runs", autoAck: false)),
            ("consume runsaga.staging", c => c.BasicConsumeAsync("runsaga.staging", autoAck: false, new AsyncEventingBasicConsumerStub(c))),
            ("declare a queue", c => c.QueueDeclareAsync("evil-queue", durable: false, exclusive: false, autoDelete: true)),
            ("bind to ItemsScraped", c => c.QueueBindAsync("runsaga.runs", "RunSaga.Contracts:ItemsScraped", "")),
            ("purge runsaga.staging", c => c.QueuePurgeAsync("runsaga.staging")),
            ("delete runsaga.promotion", c => c.QueueDeleteAsync("runsaga.promotion")),
            ("delete the PromoteRun exchange", c => c.ExchangeDeleteAsync("RunSaga.Contracts:PromoteRun")),
        })
        {
            var verdict = await scraper.Attempt(operation);
            Assert.True(verdict.ReplyCode == BrokerVerdict.AccessRefused, $"{what} as the scraper user: {verdict}");
        }

        foreach (var path in new[] { "api/overview", "api/queues", $"api/queues/{Uri.EscapeDataString(Stack.VirtualHost)}/runsaga.runs" })
        {
            var status = await Stack.Management.StatusAs(Stack.BrokerUsers.Scraper.Name, Stack.BrokerUsers.Scraper.Password, path);
            Assert.True(status == System.Net.HttpStatusCode.Unauthorized, $"GET /{path} of the management API as the scraper user: {(int)status}");
        }

        // What a scraper may publish changes nothing of a finished run: not its request, start, end, failure or batches.
        await Publisher.Publish([
            new OutgoingMessage("RunRequested", new { runId = first.RunId, source = "attacker", processType = "manual_reindex", requestedBy = "attacker" }, first.RunId),
            new OutgoingMessage("RunStarted", new { runId = second.RunId, source = victim, processType = "sync" }, second.RunId),
            new OutgoingMessage("ItemsScraped", new { runId = second.RunId, batchId = "evil", items = evil.Items }, second.RunId),
            new OutgoingMessage("ItemsScraped", new { runId = first.RunId, batchId = "evil", items = evil.Items }, first.RunId),
            new OutgoingMessage("ScrapeCompleted", new { runId = second.RunId, totalItems = 3, totalBatches = 1 }, second.RunId),
            new OutgoingMessage("ScrapeFailed", new { runId = second.RunId, errorCode = "FORGED", errorMessage = "forged" }, second.RunId),
        ]);

        // 2. A host's credentials without the validated identity (no user_id): every consumer refuses, saying why.
        await using (var unstamped = await ScraperPublisher.Connect(Stack.BrokerUsers.Orchestrator.Amqp, Stack.AdminAmqp))
        {
            await unstamped.Publish(new OutgoingMessage("DeleteRun", new { runId = first.RunId, reason = "forged", requestedBy = "attacker" }));
            await unstamped.Publish(new OutgoingMessage("PromoteRun", forged["PromoteRun"]));
            await unstamped.Publish(new OutgoingMessage("FlushConfirmed", forged["FlushConfirmed"]));
        }

        await ExpectRefused("runsaga.retention_error", first.RunId, "DeleteRun refused: only RunSaga's hosts");
        await ExpectRefused("runsaga.promotion_error", attacker.RunId, "PromoteRun refused: only RunSaga's hosts");
        await ExpectRefused("runsaga.runs_error", open.RunId, "FlushConfirmed refused: only RunSaga's hosts");

        // 3. As a host, for runs in the wrong state: the ledger decides, not the command.
        await Send("PromoteRun", new { runId = attacker.RunId, source = victim, processType = "ingestion" });
        await Send("PromoteRun", new { runId = orphan, source = victim, processType = "ingestion" });
        await Send("FlushRun", new { runId = open.RunId, expectedItems = 3, expectedBatches = 1 });
        await Send("StampLineage", new { runId = open.RunId, source = victim, processType = "ingestion" });
        await using var retentionFailures = await Publisher.Watch("RetentionFailed");
        await Send("DeleteRun", new { runId = open.RunId, reason = "forged", requestedBy = "attacker" });
        await Send("FlushConfirmed", forged["FlushConfirmed"]);
        await Send("ProjectsUpserted", forged["ProjectsUpserted"]);

        await ExpectRefused("runsaga.promotion_error", attacker.RunId, "Running, not Flushed");
        await ExpectRefused("runsaga.promotion_error", orphan, "has no run");
        await ExpectRefused("runsaga.flush_error", open.RunId, "not waiting for a flush");
        await ExpectRefused("runsaga.lineage_error", open.RunId, "was never promoted");
        await retentionFailures.WaitFor(m => MessageWatcher.GuidOf(m, "runId") == open.RunId, 1, Timeout, "DeleteRun of a running run refused");

        // Everything published above has been handled once a later run has gone all the way through.
        var sentinel = new ScrapeRun(NewSource("sentinel"));
        await CompleteRun(sentinel, Items.Numbered(3).InBatches(3));

        Assert.Equal(before, await Snapshot(victim));
        Assert.Equal(0, await Db.Count("SELECT count(*) FROM runsaga.project_rows WHERE key LIKE 'evil%'"));
    }

    private static Dictionary<string, object> Forged(string victim, Guid first, Guid second, Guid open, Guid attacker) => new()
    {
        ["PromoteRun"] = new { runId = attacker, source = victim, processType = "ingestion" },
        ["FlushRun"] = new { runId = open, expectedItems = 1, expectedBatches = 1 },
        ["StampLineage"] = new { runId = open, source = victim, processType = "ingestion" },
        ["FlushConfirmed"] = new { runId = open, stagedItems = 5, stagedBatches = 1, batchIds = new[] { "o1" } },
        ["FlushFailed"] = new { runId = open, errorCode = "FORGED", errorMessage = "forged" },
        ["ProjectsUpserted"] = new { runId = open, inserted = 0, updated = 0, unchanged = 0, errored = 0 },
        ["LineageStamped"] = new { runId = open },
        ["BatchRejected"] = new { runId = open, batchId = "o1", errorCode = "FORGED", errorMessage = "forged" },
        ["DeleteRun"] = new { runId = first, reason = "forged", requestedBy = "attacker" },
        ["ArchiveRun"] = new { runId = second, requestedBy = "attacker" },
        ["RestoreRun"] = new { runId = first, requestedBy = "attacker" },
        ["PinRun"] = new { runId = second, until = DateTime.UtcNow.AddYears(10), requestedBy = "attacker" },
        ["CancelRun"] = new { runId = open, reason = "forged", requestedBy = "attacker" },
        ["ApplyRetention"] = new { source = victim, dryRun = false, requestedBy = "attacker" },
        ["ReleaseRetention"] = new { source = victim, releasedBy = "attacker" },
    };

    private async Task ExpectRefused(string errorQueue, Guid runId, string reason)
    {
        QueuedMessage? found = null;
        await Eventually(async () =>
        {
            found = (await Stack.Management.PeekMessages(Stack.VirtualHost, errorQueue, 1000))
                .FirstOrDefault(m => m.Payload.Contains(runId.ToString(), StringComparison.OrdinalIgnoreCase)
                    && (m.Header("MT-Fault-Message") ?? string.Empty).Contains(reason, StringComparison.Ordinal));
            return found is not null;
        }, $"a message of run {runId} in {errorQueue} refused with '{reason}'", Timeout);
        Output.WriteLine($"{errorQueue}: {found!.Header("MT-Fault-Message")}");
    }

    /// <summary>md5 of every row of the source in the tables readers and retention rely on, and of every archive file of its runs.</summary>
    private async Task<string> Snapshot(string source)
    {
        var parts = new List<string> { "projects " + await Db.ProjectsChecksum(source) };
        foreach (var (name, where) in new[]
        {
            ("runs", "t.source = @p0"),
            ("run_promotions", "t.source = @p0"),
            ("run_lineage", "t.source = @p0"),
            ("project_lineage", "t.source = @p0"),
            ("run_audit", "t.run_id IN (SELECT id FROM runsaga.runs WHERE source = @p0)"),
            ("staged_batches", "t.run_id IN (SELECT id FROM runsaga.runs WHERE source = @p0)"),
            ("staged_items", "t.run_id IN (SELECT id FROM runsaga.runs WHERE source = @p0)"),
        })
        {
            var checksum = (await Db.Query(
                $"SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM runsaga.{name} t WHERE {where}",
                r => r.GetString(0), source)).Single();
            parts.Add($"{name} {checksum}");
        }

        // Archive files name their run (the folder name, or the run id in the trash); other sources' retention may still
        // be writing theirs while this test runs.
        var runIds = await Db.Query("SELECT id FROM runsaga.runs WHERE source = @p0", r => r.GetGuid(0), source);
        if (Directory.Exists(Stack.ArchiveDirectory))
        {
            foreach (var file in Directory.EnumerateFiles(Stack.ArchiveDirectory, "*", SearchOption.AllDirectories)
                .Where(f => runIds.Any(id => f.Contains(id.ToString(), StringComparison.OrdinalIgnoreCase)
                    || f.Contains(id.ToString("N"), StringComparison.OrdinalIgnoreCase)))
                .Order(StringComparer.Ordinal))
            {
                await using var stream = File.OpenRead(file);
                parts.Add($"{Path.GetRelativePath(Stack.ArchiveDirectory, file)} {Convert.ToHexString(await SHA256.HashDataAsync(stream))}");
            }
        }

        return string.Join(Environment.NewLine, parts);
    }

    /// <summary>A consumer that is never given a message: basic.consume is refused before any delivery.</summary>
    private sealed class AsyncEventingBasicConsumerStub(IChannel channel) : AsyncDefaultBasicConsumer(channel);
}
