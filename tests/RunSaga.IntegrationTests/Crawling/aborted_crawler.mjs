// A test's crawler, not an example: a CheerioCrawler for the LocalSite shop, wrapped by runsaga-crawlee, that aborts
// its own autoscaled pool after --abort-after products (Crawlee's old way to stop a crawl, which makes crawler.run()
// resolve as if the crawl were done). It uses examples/crawlee's installed packages. The same output as
// examples/crawlee: the adapter's "RunSaga run <id> started" line, then one "RunSaga stats {...}" line.
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repository = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const require = createRequire(path.join(repository, "examples", "crawlee", "package.json"));
const { CheerioCrawler, Configuration } = require("@crawlee/cheerio");
const { withRunSaga } = require("runsaga-crawlee");

const { values } = parseArgs({ options: { "start-url": { type: "string" }, "abort-after": { type: "string" } } });
const abortAfter = Number(values["abort-after"]);
let products = 0;
const crawler = new CheerioCrawler({
  maxConcurrency: 2,
  async requestHandler({ request, response, $, enqueueLinks, pushData, crawler: self }) {
    if (response.statusCode >= 400) {
      return;
    }
    if (request.label !== "PRODUCT") {
      await enqueueLinks({ selector: "a.product", label: "PRODUCT" });
      await enqueueLinks({ selector: "a.next", label: "LIST" });
      return;
    }
    products += 1;
    const price = $("span.price");
    await pushData({ sku: price.attr("data-sku"), title: $("h1.title").text(), url: request.url, price: Number(price.text()) });
    if (products === abortAfter) {
      await self.autoscaledPool.abort();
    }
  },
}, new Configuration({ persistStorage: false, purgeOnStart: false }));
const saga = withRunSaga(crawler, { name: "aborted", keyField: "sku" });
await crawler.run([{ url: values["start-url"], label: "LIST" }]);
const stats = saga.stats;
console.log(`RunSaga stats ${JSON.stringify({ run_id: stats.runId, items: stats.items, batches: stats.batches, outcome: stats.outcome, error_code: stats.errorCode ?? null })}`);
process.exitCode = stats.outcome === "completed" ? 0 : 1;
