// Compiled only (npm test): a Crawlee 3.18 crawler is what withRunSaga takes, and its handle reads as documented.
import { CheerioCrawler, Configuration } from "@crawlee/cheerio";
import { RunSagaStats, withRunSaga } from "../src/index.js";

const crawler = new CheerioCrawler({ requestHandler: async () => undefined }, new Configuration({ persistStorage: false }));
const saga = withRunSaga(crawler, { amqpUrl: "amqp://u:p@localhost/", source: "s", keyField: "sku" });
const stats: RunSagaStats | undefined = saga.stats;
export const check = [stats?.outcome, saga.runId, saga.enabled];
