// A Crawlee crawler for the demo shop (listing pages with pagination, one page per product), made a RunSaga scraper by
// the runsaga-crawlee package (clients/typescript): one withRunSaga() call below, and every crawl is a RunSaga run.
// The Crawlee twin of examples/scrapy/shop_spider.py.
//
//   RUNSAGA_AMQP_URL=amqp://... RUNSAGA_SOURCE=demo-shop node examples/crawlee/dist/shop_crawler.js \
//       --start-url http://127.0.0.1:8000/
//
// Options: --start-url URL (required); --stop-after N stops the crawl with crawler.stop("stopped_half_way") at the
// product after the N-th (exactly N items are pushed, and the run fails STOPPED_HALF_WAY); --max-requests N sets
// maxRequestsPerCrawl (a crawl that reaches it fails its run, MAX_REQUESTS_PER_CRAWL). Every RUNSAGA_* setting comes
// from the environment. The last line on stdout is `RunSaga stats {...}`; the exit code is 0 when the run completed,
// 1 when it failed, 2 for a wrong command line or setting.

import { parseArgs } from "node:util";
import { CheerioCrawler, Configuration } from "@crawlee/cheerio";
import { RunSagaConfigurationError, withRunSaga } from "runsaga-crawlee";

const USAGE = `Usage: node dist/shop_crawler.js --start-url URL [--stop-after N] [--max-requests N]

Crawls the demo shop from URL; every crawl is a RunSaga run. RUNSAGA_AMQP_URL (the scraper user's AMQP URI) and
the other RUNSAGA_* settings (docs/scrapers.md) come from the environment.
`;

class UsageError extends Error {}

interface Options {
  startUrl: string;
  stopAfter?: number;
  maxRequests?: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      "start-url": { type: "string" },
      "stop-after": { type: "string" },
      "max-requests": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const count = (flag: string, text: string | undefined, min: number): number | undefined => {
    if (text === undefined) {
      return undefined;
    }
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) {
      throw new UsageError(`--${flag} must be an integer >= ${min} (got ${JSON.stringify(text)})`);
    }
    return value;
  };
  if (!values["start-url"]) {
    throw new UsageError("give the shop's address: --start-url http://127.0.0.1:<port>/");
  }
  if (!process.env.RUNSAGA_AMQP_URL) {
    throw new UsageError("RUNSAGA_AMQP_URL is not set: give the AMQP URI of RunSaga's broker (the scraper user)");
  }
  return {
    startUrl: values["start-url"],
    stopAfter: count("stop-after", values["stop-after"], 0),
    maxRequests: count("max-requests", values["max-requests"], 1),
  };
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`shop_crawler: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }

  // Crawlee's storages (request queue, dataset, key-value store) in memory only: nothing is written to ./storage or
  // anywhere else, and nothing is purged from a ./storage that happens to be in the working directory.
  const config = new Configuration({ persistStorage: false, purgeOnStart: false });
  let products = 0;
  const crawler = new CheerioCrawler(
    {
      maxConcurrency: 8,
      maxRequestsPerCrawl: options.maxRequests,
      async requestHandler({ request, response, $, enqueueLinks, pushData, crawler: self, log }) {
        // Crawlee hands 4xx pages to the handler (only 5xx and blocked statuses are errors): a link to a page that is
        // gone is skipped here, as Scrapy's HttpErrorMiddleware skips it. It does not fail the run.
        if (response.statusCode !== undefined && response.statusCode >= 400) {
          log.info(`skipping ${request.url}: HTTP ${response.statusCode}`);
          return;
        }
        if (request.label !== "PRODUCT") {
          // A listing page: every product, then the next page.
          await enqueueLinks({ selector: "a.product", label: "PRODUCT" });
          await enqueueLinks({ selector: "a.next", label: "LIST" });
          return;
        }
        // Checked and counted before the push, with no await in between: exactly N items are pushed, however many
        // product pages are in progress at once.
        if (options.stopAfter !== undefined && products >= options.stopAfter) {
          self.stop("stopped_half_way");
          return;
        }
        const price = $("span.price").first();
        if (price.length === 0) {
          log.warning(`skipping ${request.url}: no price on the page`);
          return;
        }
        products += 1;
        await pushData({
          sku: price.attr("data-sku"),
          title: $("h1.title").first().text(),
          url: request.loadedUrl ?? request.url,
          price: Number(price.text()),
          description: $("p.description").first().text(),
        });
      },
    },
    config,
  );

  let saga;
  try {
    // RunSaga: every crawler.run() is a run. The key field is the crawler's own; the rest comes from RUNSAGA_*.
    saga = withRunSaga(crawler, { name: "shop", keyField: "sku" });
  } catch (error) {
    if (error instanceof RunSagaConfigurationError) {
      process.stderr.write(`shop_crawler: ${error.message}\n`);
      return 2;
    }
    throw error;
  }

  try {
    await crawler.run([{ url: options.startUrl, label: "LIST" }]);
  } catch (error) {
    process.stderr.write(`shop_crawler: ${(error as Error).message}\n`);
  }
  const stats = saga.stats;
  process.stdout.write(`RunSaga stats ${JSON.stringify({
    run_id: stats?.runId ?? null,
    items: stats?.items ?? 0,
    batches: stats?.batches ?? 0,
    outcome: stats?.outcome ?? "failed",
    reconnects: stats?.reconnects ?? 0,
    backpressure_waits: stats?.backpressureWaits ?? 0,
  })}\n`);
  return stats?.outcome === "completed" ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Nothing should keep the process alive after the run; if something does, it is not worth waiting for.
    setTimeout(() => process.exit(code), 10_000).unref();
  },
  (error: unknown) => {
    process.stderr.write(`shop_crawler: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
