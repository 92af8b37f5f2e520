// runsaga-crawlee: every Crawlee crawl becomes a RunSaga run (docs/scrapers.md, "Crawlee in ten lines").

export { withRunSaga, RunSaga, RunSagaError } from "./crawlee.js";
export type { CrawlerLike, RunSagaStats } from "./crawlee.js";
export { RunSagaConfigurationError, resolveSettings, KEY_FIELDS } from "./settings.js";
export type { RunSagaOptions, Settings } from "./settings.js";
export { ItemMapping, RunSagaItem } from "./items.js";
export type { ItemMapper, WireItem } from "./items.js";
export { RunPublisher, consoleLogger } from "./publisher.js";
export type { Logger, Outcome, PublisherOptions } from "./publisher.js";
export { canonicalizeUrl } from "./url.js";
export { envelope, errorCode, exchangeName, messageUrn, parseUrls, redact, PROCESS_TYPES, SCRAPER_MESSAGES } from "./wire.js";
export type { MessageName, ProcessType } from "./wire.js";
