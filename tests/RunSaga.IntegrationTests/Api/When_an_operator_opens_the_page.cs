using Microsoft.Playwright;
using RunSaga.IntegrationTests.Fixture;
using RunSaga.IntegrationTests.Scraping;

namespace RunSaga.IntegrationTests.Api;

/// <summary>
/// The page at <c>/</c> in real headless Chromium (Debian's, driven by Playwright; RUNSAGA_CHROMIUM names another
/// binary): a completed run shows with its status and counts, the filters narrow the table, the run's detail and an
/// item's lineage open. The screenshots go to a temporary folder, so the test leaves the work tree alone; with
/// RUNSAGA_SCREENSHOTS=docs/img (relative to the repository) they refresh the README's pictures.
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
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Screenshot("page.png"), FullPage = true });

        await row.Locator("a").ClickAsync();
        await Assertions.Expect(page.Locator("#run-status")).ToHaveTextAsync("Completed");
        await Assertions.Expect(page.Locator("#run-id")).ToHaveTextAsync(run.Id.ToString());
        await Assertions.Expect(page.Locator("#run-steps li").First).ToContainTextAsync("flush");
        await Assertions.Expect(page.Locator("#run-counts")).ToContainTextAsync("inserted");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Screenshot("run.png"), FullPage = true });

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
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Screenshot("dead-letters.png"), FullPage = true });
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

    private static string Screenshot(string name) =>
        Environment.GetEnvironmentVariable("RUNSAGA_SCREENSHOTS") is { Length: > 0 } folder
            ? Path.Combine(RepositoryRoot(), folder, name)
            : Path.Combine(Path.GetTempPath(), $"runsaga-page-{Environment.ProcessId}-{name}");

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
