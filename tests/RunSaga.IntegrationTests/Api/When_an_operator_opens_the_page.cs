using Microsoft.Playwright;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Api;

/// <summary>
/// The page at <c>/</c> in real headless Chromium (Debian's, driven by Playwright; RUNSAGA_CHROMIUM names another
/// binary): a completed run shows with its status and counts, the filters narrow the table, the run's detail with its
/// lifecycle and an item's lineage open; a failed run's lifecycle shows where it failed; a source's page charts its
/// runs; the fleet chart counts the runs of the last 24 hours; the search box finds runs. Screenshots are taken only
/// with RUNSAGA_SCREENSHOTS set (a folder, absolute or relative to the repository: <c>scripts/screenshots</c> sets
/// docs/img), so a normal test run writes no file anywhere.
/// </summary>
[Collection(RunSagaCollection.Name)]
public sealed class When_an_operator_opens_the_page(RunSagaStack stack, ITestOutputHelper output) : RunSagaSpec(stack, output)
{
    private static readonly string[] Candidates = ["/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"];

    [Fact]
    public async Task Should_show_the_run_filter_it_open_it_and_trace_an_item()
    {
        var source = NewSource("page");
        await Seed(NewSource("page-other"), Items.Numbered(2));
        var run = await Seed(source, Items.Numbered(7));

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Launch(playwright);
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        page.Console += (_, message) => Output.WriteLine($"[page] {message.Text}");

        await page.GotoAsync(Stack.OrchestratorUrl.ToString());
        await Assertions.Expect(page.Locator("#message")).ToContainTextAsync("API key");
        await page.FillAsync("#key", Stack.ApiKeys["reader"]);
        await page.ClickAsync("#key-form button");

        var row = page.Locator($"#runs tbody tr[data-run='{run.Id}']");
        await Assertions.Expect(row).ToContainTextAsync("Completed");
        await Assertions.Expect(row.Locator("td").Nth(5)).ToHaveTextAsync("7");
        await Assertions.Expect(page.Locator("#sources tbody")).ToContainTextAsync(source);
        await Assertions.Expect(page.Locator("#cycles tbody")).ToContainTextAsync(source);

        await page.SelectOptionAsync("#filter-source", source);
        await page.SelectOptionAsync("#filter-status", "Completed");
        await Assertions.Expect(page.Locator("#runs tbody tr")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#runs tbody tr").First).ToHaveAttributeAsync("data-run", run.Id.ToString());
        await Assertions.Expect(page.Locator("#fleet-chart g.bar")).ToHaveCountAsync(24);
        await Screenshot(page, "page.png");

        await row.Locator("a").ClickAsync();
        await Assertions.Expect(page.Locator("#run-status")).ToHaveTextAsync("Completed");
        await Assertions.Expect(page.Locator("#run-id")).ToHaveTextAsync(run.Id.ToString());
        await Assertions.Expect(page.Locator("#run-steps li").First).ToContainTextAsync("flush");
        await Assertions.Expect(page.Locator("#run-counts")).ToContainTextAsync("inserted");
        var lifecycle = page.Locator("#lifecycle");
        foreach (var visited in new[] { "Queued", "Running", "Flushed", "Completed" })
        {
            await Assertions.Expect(lifecycle.Locator($"g.node[data-state='{visited}']")).ToHaveAttributeAsync("data-visited", "true");
        }

        await Assertions.Expect(lifecycle.Locator("g.node[data-current='true']")).ToHaveAttributeAsync("data-state", "Completed");
        await Assertions.Expect(lifecycle.Locator("g.node[data-state='Failed']")).ToHaveAttributeAsync("data-visited", "false");
        await Assertions.Expect(lifecycle.Locator("line[data-taken='true']")).ToHaveCountAsync(3);
        await Assertions.Expect(page.Locator("#run-waiting")).ToBeHiddenAsync();
        await Screenshot(page, "run.png");

        await page.GotoAsync($"{Stack.OrchestratorUrl}#/lineage/{source}/item-00003");
        await Assertions.Expect(page.Locator("#item-changes tbody tr")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#item-changes tbody")).ToContainTextAsync("created");
        await Assertions.Expect(page.Locator("#item-facts")).ToContainTextAsync(run.Id.ToString());
    }

    [Fact]
    public async Task Should_cancel_a_running_run_from_its_page_with_an_operators_key()
    {
        var source = NewSource("page-cancel");
        var running = new ScrapeRun(source);
        await Stack.Publisher.Publish([running.Requested(), running.Started()]);
        await Db.WaitForRun(running.RunId, r => r.Status == "Running", "Running");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Launch(playwright);
        var page = await browser.NewPageAsync();
        page.Dialog += async (_, dialog) => await dialog.AcceptAsync("cancelled from the page");
        await page.GotoAsync(Stack.OrchestratorUrl.ToString());
        await page.FillAsync("#key", Stack.ApiKeys["operator"]);
        await page.ClickAsync("#key-form button");
        await page.GotoAsync($"{Stack.OrchestratorUrl}#/runs/{running.RunId}");
        await Assertions.Expect(page.Locator("#run-status")).ToHaveTextAsync("Running");

        await page.ClickAsync("#run-cancel");

        await Assertions.Expect(page.Locator("#run-status")).ToHaveTextAsync("Cancelled", new() { Timeout = 40_000 });
        await Assertions.Expect(page.Locator("#run-facts")).ToContainTextAsync("cancelled from the page");
        await Assertions.Expect(page.Locator("#run-cancel")).ToBeHiddenAsync();
        Assert.Equal("CANCELLED", (await Db.FindRun(running.RunId))!.ErrorCode);
    }

    [Fact]
    public async Task Should_show_a_restored_runs_items_and_what_retention_deleted()
    {
        var source = NewSource("page-restored");
        var run = await Seed(source, Items.Numbered(4));
        await Send("ArchiveRun", new { runId = run.Id, requestedBy = "it" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND archived_at IS NOT NULL", run.Id);
        await Send("RestoreRun", new { runId = run.Id, requestedBy = "it" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND restored_at IS NOT NULL", run.Id);
        var deleted = await Seed(source, Items.Numbered(4));
        await Send("DeleteRun", new { runId = deleted.Id, reason = "page test", requestedBy = "it-operator" });
        await Db.WaitForRow("SELECT count(*) FROM runsaga.runs WHERE id = @p0 AND deleted_at IS NOT NULL", deleted.Id);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Launch(playwright);
        var page = await browser.NewPageAsync();
        await page.GotoAsync(Stack.OrchestratorUrl.ToString());
        await page.FillAsync("#key", Stack.ApiKeys["reader"]);
        await page.ClickAsync("#key-form button");
        await Assertions.Expect(page.Locator($"#deleted-runs tbody tr[data-run='{deleted.Id}']")).ToContainTextAsync("page test");

        await page.GotoAsync($"{Stack.OrchestratorUrl}#/runs/{run.Id}");
        await Assertions.Expect(page.Locator("#run-items tbody tr")).ToHaveCountAsync(4);
        await Assertions.Expect(page.Locator("#run-items tbody")).ToContainTextAsync("item-00003");
    }

    [Fact]
    public async Task Should_list_dead_letter_queues_and_show_why_a_message_failed()
    {
        var runId = Guid.NewGuid();
        await Faults.HostileInput.PublishAsync(Publisher, Faults.HostileInput.Kind.WrongType, runId);
        using (var api = Stack.Api("reader"))
        {
            // 404 until MassTransit has declared the queue with the first message it moves there.
            await Eventually(async () =>
            {
                using var response = await api.GetAsync("errors/runsaga.runs_error?limit=500");
                return response.IsSuccessStatusCode && (await response.Content.ReadAsStringAsync()).Contains(runId.ToString(), StringComparison.Ordinal);
            }, "the failed ScrapeCompleted is in runsaga.runs_error", pollInterval: TimeSpan.FromSeconds(1));
        }

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Launch(playwright);
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        await page.GotoAsync(Stack.OrchestratorUrl.ToString());
        await page.FillAsync("#key", Stack.ApiKeys["reader"]);
        await page.ClickAsync("#key-form button");

        var queue = page.Locator("#dead-letter-queues tbody tr[data-queue='runsaga.runs_error']");
        await Assertions.Expect(queue).ToContainTextAsync("error");
        await queue.Locator("a").ClickAsync();
        await Assertions.Expect(page.Locator("#errors-queue")).ToHaveTextAsync("runsaga.runs_error");
        var letter = page.Locator($"#dead-letters tbody tr[data-run='{runId}']");
        await Assertions.Expect(letter).ToContainTextAsync("ScrapeCompleted");
        await Assertions.Expect(letter).ToContainTextAsync("as a number");
    }

    [Fact]
    public async Task Should_show_a_runs_history_with_its_redelivered_batch_held_flush_and_late_batch_in_order()
    {
        var run = await RunWithAHistory(NewSource("page-history"));

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Launch(playwright);
        var page = await Open(browser, $"#/runs/{run.RunId}");
        await Assertions.Expect(page.Locator("#run-status")).ToHaveTextAsync("Completed");
        var history = page.Locator("#run-history li");
        await Assertions.Expect(history.Locator("text=late: the run had moved on").First).ToBeVisibleAsync();

        var lines = await history.EvaluateAllAsync<string[]>(
            "items => items.map(li => `${li.dataset.actor} ${li.dataset.event} ${li.dataset.outcome} ${li.textContent}`)");
        Output.WriteLine(string.Join(Environment.NewLine, lines));
        int At(string prefix, string? text = null)
        {
            var index = Array.FindIndex(lines, l => l.StartsWith(prefix, StringComparison.Ordinal) && (text is null || l.Contains(text, StringComparison.Ordinal)));
            Assert.True(index >= 0, $"'{prefix}' ({text}) is not on the page's history");
            return index;
        }

        var order = new[]
        {
            At("staging ItemsScraped duplicate", "batch b1 came again"),
            At("saga ScrapeCompleted changed", "Running → Flushing"),
            At("saga RunDeadlinePassed changed", "flush verdict held"),
            At("flush FlushVerdict changed"),
            At("saga FlushConfirmed changed", "Flushing → Flushed"),
            At("saga ProjectsUpserted changed", "Flushed → Completed"),
            At("staging ItemsScraped late", "batch b4 came after the run's flush"),
        };
        Assert.Equal(order.Order(), order);
        Assert.Contains(lines, l => l.StartsWith("staging batches summary", StringComparison.Ordinal) && l.Contains("3 batches staged", StringComparison.Ordinal));
        await Screenshot(page, "history.png");
    }

    [Fact]
    public async Task Should_replay_a_dead_letter_from_the_page_and_the_run_then_completes()
    {
        var (run, _) = await RunWhoseCompletionFailed("page-replay");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Launch(playwright);
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        await page.GotoAsync(Stack.OrchestratorUrl.ToString());
        await page.FillAsync("#key", Stack.ApiKeys["operator"]);
        await page.ClickAsync("#key-form button");
        await page.GotoAsync($"{Stack.OrchestratorUrl}#/errors/{RunsErrorQueue}");
        var letter = page.Locator($"#dead-letters tbody tr[data-run='{run.RunId}']");
        await Assertions.Expect(letter).ToContainTextAsync("permission denied");
        await Screenshot(page, "dead-letters.png");

        await letter.Locator("button[data-action='replay']").ClickAsync();
        await Assertions.Expect(page.Locator("#message")).ToContainTextAsync("1 message replayed to runsaga.runs");
        await Assertions.Expect(letter).ToHaveCountAsync(0);
        await ExpectCompleted(run.RunId);

        await page.GotoAsync($"{Stack.OrchestratorUrl}#/runs/{run.RunId}");
        await Assertions.Expect(page.Locator("#run-status")).ToHaveTextAsync("Completed");
        await Assertions.Expect(page.Locator("#run-history li[data-event='ScrapeCompleted'][data-outcome='changed']")).ToContainTextAsync("Running → Flushing");
    }

    [Fact]
    public async Task Should_show_where_a_failed_run_failed_and_what_an_open_run_waits_for()
    {
        var source = NewSource("page-failed");
        await Seed(source, Items.Numbered(3));
        // One of three batches, then the completion: the flush waits FLUSH_TIMEOUT for the other two and fails the run.
        var failed = new ScrapeRun(source);
        var batches = Items.Numbered(6).InBatches(2);
        await Publisher.Publish([failed.Requested(), failed.Started(), failed.Scraped(batches[0]), failed.Completed(batches)]);
        await ExpectFailed(failed.RunId, "FLUSH_INCOMPLETE");
        var running = new ScrapeRun(source);
        await Publisher.Publish([running.Requested(), running.Started(), running.Scraped(batches[0])]);
        await Db.WaitForRun(running.RunId, r => r.Status == "Running", "Running");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Launch(playwright);
        var page = await Open(browser, $"#/runs/{failed.RunId}");

        var lifecycle = page.Locator("#lifecycle");
        await Assertions.Expect(page.Locator("#run-status")).ToHaveTextAsync("Failed");
        var from = lifecycle.Locator("g.node[data-failed-from='true']");
        await Assertions.Expect(from).ToHaveAttributeAsync("data-state", "Running");
        await Assertions.Expect(from).ToHaveAttributeAsync("data-substate", "Flushing");
        await Assertions.Expect(from).ToContainTextAsync("failed here");
        var end = lifecycle.Locator("g.node[data-state='Failed']");
        await Assertions.Expect(end).ToHaveAttributeAsync("data-current", "true");
        await Assertions.Expect(end).ToHaveAttributeAsync("data-error-code", "FLUSH_INCOMPLETE");
        await Assertions.Expect(end).ToContainTextAsync("you are here");
        await Assertions.Expect(lifecycle.Locator("g.node[data-state='Flushed']")).ToHaveAttributeAsync("data-visited", "false");
        await Assertions.Expect(lifecycle.Locator("line[data-from='Running'][data-to='Failed']")).ToHaveAttributeAsync("data-taken", "true");
        await Assertions.Expect(lifecycle.Locator("line[data-from='Running'][data-to='Flushed']")).ToHaveAttributeAsync("data-taken", "false");
        await Assertions.Expect(lifecycle).ToContainTextAsync("FLUSH_INCOMPLETE");
        await Assertions.Expect(page.Locator("#run-path")).ToContainTextAsync("Failed: FLUSH_INCOMPLETE, from Running while Flushing");
        await Screenshot(page, "failed-run.png");

        // An open run: where it is, and what it waits for.
        await page.GotoAsync($"{Stack.OrchestratorUrl}#/runs/{running.RunId}");
        await Assertions.Expect(lifecycle.Locator("g.node[data-current='true']")).ToHaveAttributeAsync("data-state", "Running");
        await Assertions.Expect(lifecycle.Locator("g.node[data-failed-from='true']")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("#run-waiting")).ToContainTextAsync("Waiting for ScrapeCompleted; 1 batch (2 items) staged so far; run deadline in");
        await Send("CancelRun", new { runId = running.RunId, reason = "page test done", requestedBy = "it" });
        await Db.WaitForRun(running.RunId, r => r.Status == "Cancelled", "Cancelled");
    }

    [Fact]
    public async Task Should_chart_a_sources_last_ten_runs_on_its_page()
    {
        var source = NewSource("page-source");
        var runs = new List<Guid>();
        for (var i = 0; i < 10; i++)
        {
            if (i == 6)
            {
                var failed = new ScrapeRun(source);
                // Its batch staged first: a batch that arrives after the run failed is refused.
                await Publisher.Publish([failed.Requested(), failed.Started(), failed.Scraped(new Batch("b001", Items.Numbered(4)))]);
                await Db.WaitForRow("SELECT count(*) FROM runsaga.staged_batches WHERE run_id = @p0", failed.RunId);
                await Publisher.Publish([failed.Failed("UPSTREAM_UNAVAILABLE", "503 from the site")]);
                await ExpectFailed(failed.RunId, "UPSTREAM_UNAVAILABLE");
                runs.Add(failed.RunId);
                continue;
            }

            List<Item> items = [.. Items.Numbered(8 + i, revision: 1 + i % 3)];
            if (i == 4)
            {
                items.AddRange([new Item(null, "No key"), new Item(" ", "Blank key")]);
            }

            if (i == 8)
            {
                items.Add(new Item("item-broken", Error: "timeout fetching the page"));
            }

            runs.Add((await CompleteRun(new ScrapeRun(source), items.InBatches(5))).Id);
        }

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Launch(playwright);
        // Opened fresh from a shared link: the page asks for a key, then shows the source.
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        await page.GotoAsync($"{Stack.OrchestratorUrl}#/sources/{source}");
        await Assertions.Expect(page.Locator("#message")).ToContainTextAsync("API key");
        await page.FillAsync("#key", Stack.ApiKeys["reader"]);
        await page.ClickAsync("#key-form button");

        await Assertions.Expect(page.Locator("#source-name")).ToHaveTextAsync(source);
        await Assertions.Expect(page.Locator("#source-health")).ToHaveTextAsync("ok");
        foreach (var chart in new[] { "#source-duration-chart", "#source-items-chart", "#source-rejected-chart" })
        {
            var bars = page.Locator($"{chart} g.bar");
            await Assertions.Expect(bars).ToHaveCountAsync(10);
            Assert.Equal(runs.Select(id => id.ToString()), await bars.EvaluateAllAsync<string[]>("bars => bars.map(b => b.dataset.run)"));
            Assert.False(string.IsNullOrEmpty(await page.Locator($"{chart} > title").TextContentAsync()));
        }

        var itemBars = page.Locator("#source-items-chart g.bar");
        await Assertions.Expect(itemBars.Nth(0)).ToHaveAttributeAsync("data-staged", "8");
        await Assertions.Expect(itemBars.Nth(8)).ToHaveAttributeAsync("data-errored", "1");
        await Assertions.Expect(itemBars.Nth(6)).ToHaveAttributeAsync("data-staged", "4");
        await Assertions.Expect(page.Locator("#source-rejected-chart g.bar").Nth(4)).ToHaveAttributeAsync("data-rejected", "2");
        await Assertions.Expect(page.Locator("#source-duration-chart g.bar").Nth(6)).ToHaveAttributeAsync("data-status", "Failed");
        await Assertions.Expect(page.Locator("#source-duration-chart g.bar").Nth(6).Locator("rect[data-series='failed']")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#source-runs tbody tr")).ToHaveCountAsync(10);
        await Assertions.Expect(page.Locator("#source-retention")).ToContainTextAsync("Next scheduled cycle");
        await Assertions.Expect(page.Locator("#source-retention")).ToContainTextAsync("Last cycle");
        await Screenshot(page, "source.png");

        // Each bar links to its run.
        await page.Locator("#source-duration-chart g.bar").Nth(6).ClickAsync();
        await Assertions.Expect(page.Locator("#run-id")).ToHaveTextAsync(runs[6].ToString());

        // The home page links the source to its page.
        await page.GotoAsync($"{Stack.OrchestratorUrl}#/");
        await page.Locator($"#sources tbody tr[data-source='{source}'] a").First.ClickAsync();
        await Assertions.Expect(page.Locator("#source-name")).ToHaveTextAsync(source);
    }

    [Fact]
    public async Task Should_chart_the_fleets_runs_per_hour_by_outcome()
    {
        var source = NewSource("page-fleet");
        await Seed(source, Items.Numbered(2));
        await Seed(source, Items.Numbered(2));
        var failed = new ScrapeRun(source);
        await Publisher.Publish([failed.Requested(), failed.Failed("UPSTREAM_UNAVAILABLE", "503")]);
        await ExpectFailed(failed.RunId, "UPSTREAM_UNAVAILABLE");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Launch(playwright);
        var page = await Open(browser, "#/");
        var bars = page.Locator("#fleet-chart g.bar");
        await Assertions.Expect(bars).ToHaveCountAsync(24);
        Assert.False(string.IsNullOrEmpty(await page.Locator("#fleet-chart").GetAttributeAsync("aria-labelledby")));
        Assert.Contains("by outcome", await page.Locator("#fleet-chart > title").TextContentAsync(), StringComparison.Ordinal);

        // The bars add up to the ledger's runs of the last 24 hours (the page refreshes every 5 s; another spec's open
        // run may end meanwhile, so compare until both agree).
        long[] drawn = [], ledger = [];
        await Eventually(async () =>
        {
            ledger = (await Db.Query(
                """
                SELECT count(*) FILTER (WHERE status = 'Completed'), count(*) FILTER (WHERE status = 'Failed'),
                       count(*) FILTER (WHERE status = 'Cancelled'), count(*) FILTER (WHERE status NOT IN ('Completed', 'Failed', 'Cancelled'))
                FROM runsaga.runs WHERE duplicate_of IS NULL AND created_at >= date_trunc('hour', now(), 'UTC') - interval '23 hours'
                """,
                r => new[] { r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3) })).Single();
            drawn = await bars.EvaluateAllAsync<long[]>(
                "bars => ['completed', 'failed', 'cancelled', 'open'].map(k => bars.reduce((sum, b) => sum + Number(b.dataset[k]), 0))");
            return drawn.SequenceEqual(ledger);
        }, "the fleet chart's bars add up to the ledger's runs", timeout: TimeSpan.FromSeconds(30), pollInterval: TimeSpan.FromSeconds(1));
        Assert.True(drawn[0] >= 2 && drawn[1] >= 1, $"drawn {string.Join(", ", drawn)}");
        // The current hour is the last bar, and holds this spec's runs.
        var last = bars.Last;
        Assert.True(long.Parse(await last.GetAttributeAsync("data-completed") ?? "0") >= 2 || DateTime.UtcNow.Minute == 0);
        Assert.Contains("completed", await last.Locator("title").TextContentAsync(), StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("#fleet details table tbody tr")).ToHaveCountAsync(24);
    }

    [Fact]
    public async Task Should_find_a_run_by_id_idempotency_key_and_folder_name()
    {
        var source = NewSource("page-search");
        var key = $"{source}:v1:p1";
        var failed = new ScrapeRun(source);
        await Publisher.Publish([failed.Requested(key), failed.Started(key), failed.Failed("UPSTREAM_UNAVAILABLE", "503")]);
        await ExpectFailed(failed.RunId, "UPSTREAM_UNAVAILABLE");
        var retry = new ScrapeRun(source);
        var batches = Items.Numbered(2).InBatches(20);
        await Publisher.Publish([retry.Requested(key), retry.Started(key), .. batches.Select(retry.Scraped), retry.Completed(batches)]);
        var completed = await ExpectCompleted(retry.RunId);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Launch(playwright);
        var page = await Open(browser, "#/");

        await Find(page, retry.RunId.ToString());
        await Assertions.Expect(page.Locator("#run-id")).ToHaveTextAsync(retry.RunId.ToString());

        await Find(page, completed.FolderName!);
        await Assertions.Expect(page.Locator("#run-id")).ToHaveTextAsync(retry.RunId.ToString());
        await page.GotoAsync($"{Stack.OrchestratorUrl}#/");

        await Find(page, key);
        await Assertions.Expect(page.Locator("#search-runs tbody tr")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator("#search-runs tbody tr").First).ToHaveAttributeAsync("data-run", retry.RunId.ToString());
        await Assertions.Expect(page.Locator($"#search-runs tbody tr[data-run='{failed.RunId}']")).ToContainTextAsync("idempotency key");
        Assert.EndsWith($"#/search/{Uri.EscapeDataString(key)}", page.Url, StringComparison.Ordinal);

        await Find(page, $"{source}:v9:nothing");
        await Assertions.Expect(page.Locator("#search-none")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#search-runs tbody tr")).ToHaveCountAsync(0);
    }

    private static async Task Find(IPage page, string text)
    {
        await page.FillAsync("#search", text);
        await page.PressAsync("#search", "Enter");
    }

    /// <summary>A new tab with a reader's key, at <paramref name="hash"/>.</summary>
    private async Task<IPage> Open(IBrowser browser, string hash)
    {
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        page.Console += (_, message) => Output.WriteLine($"[page] {message.Text}");
        await page.GotoAsync($"{Stack.OrchestratorUrl}{hash}");
        await page.FillAsync("#key", Stack.ApiKeys["reader"]);
        await page.ClickAsync("#key-form button");
        return page;
    }

    private static Task<IBrowser> Launch(IPlaywright playwright) => playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
    {
        ExecutablePath = Chromium(),
        Headless = true,
        Args = ["--no-sandbox", "--disable-dev-shm-usage"],
    });

    private static string Chromium() =>
        Environment.GetEnvironmentVariable("RUNSAGA_CHROMIUM") is { Length: > 0 } configured ? configured
        : Candidates.FirstOrDefault(File.Exists)
          ?? throw new InvalidOperationException(
              $"No Chromium at {string.Join(", ", Candidates)}: apt-get install chromium (scripts/test does), or set RUNSAGA_CHROMIUM");

    /// <summary>A full-page PNG into RUNSAGA_SCREENSHOTS when it is set (scripts/screenshots); nothing otherwise.</summary>
    private static async Task Screenshot(IPage page, string name)
    {
        if (Environment.GetEnvironmentVariable("RUNSAGA_SCREENSHOTS") is not { Length: > 0 } folder)
        {
            return;
        }

        var directory = Path.Combine(RepositoryRoot(), folder);
        Directory.CreateDirectory(directory);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(directory, name), FullPage = true });
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "RunSaga.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("RunSaga.sln not found above the test's folder");
    }
}
