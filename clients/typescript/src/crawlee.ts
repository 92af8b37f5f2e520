// The Crawlee side: every `crawler.run()` is a RunSaga run. The twin of clients/python/runsaga_scrapy/extension.py.
//
// - `crawler.run()` starts: RunRequested and RunStarted, both confirmed before the crawl begins (the run id is logged);
// - each item pushed with `context.pushData` or `crawler.pushData`: mapped to `{key, title, url, data}` and buffered;
//   every batchSize items become one ItemsScraped batch, published in order with confirms;
// - `crawler.run()` ends: the last batch, then ScrapeCompleted {totalItems, totalBatches} when the crawl saw the whole
//   site and every batch was confirmed, else ScrapeFailed with the reason as its code.
//
// The crawler is duck-typed (run, pushData, stop, and Crawlee 3's maxRequestsPerCrawl and handledRequestsCount), never
// checked with instanceof, so a crawler made by another copy of Crawlee works as well. Crawlee's BasicCrawler builds each
// request's context with `pushData: this.pushData.bind(this)`, so wrapping the instance's pushData catches
// `context.pushData` too. `Dataset.pushData()` and `dataset.pushData()` write to a dataset directly: RunSaga never sees
// those items.

import { ItemMapping, WireItem } from "./items.js";
import { Logger, RunPublisher, consoleLogger } from "./publisher.js";
import { RunSagaConfigurationError, RunSagaOptions, Settings, formatKey, resolveSettings } from "./settings.js";
import { errorCode, newId, parseUrls, redact } from "./wire.js";

/** What this package needs of a crawler: any Crawlee 3 crawler (BasicCrawler and its subclasses) has it. */
export interface CrawlerLike {
  run(...args: any[]): Promise<unknown>;
  pushData(data: any, datasetIdOrName?: string): Promise<unknown>;
  stop(reason?: string): unknown;
  log?: unknown;
  running?: boolean;
}

/**
 * Protected in Crawlee's typings, read all the same: whether the crawl ended at maxRequestsPerCrawl, and whether its
 * request queue still holds requests when `run()` resolves.
 */
interface CrawlerLimits {
  maxRequestsPerCrawl?: number;
  handledRequestsCount?: number;
  requestManager?: { isFinished?: () => Promise<boolean> };
  handleSkippedRequest?: (options: { url?: string; reason?: string }) => Promise<unknown>;
}

export interface RunSagaStats {
  runId: string;
  source: string;
  /** Items pushed during the run (every one published, or the run failed). */
  items: number;
  batches: number;
  confirmedBatches: number;
  outcome: "running" | "completed" | "failed";
  /** The ScrapeFailed errorCode, when the run failed with one. */
  errorCode?: string;
  /** Connections opened after the first (a lost one replaced). */
  reconnects: number;
  /** How often a pushData waited because more than maxPendingBatches messages were unconfirmed, and for how long. */
  backpressureWaits: number;
  backpressureWaitMs: number;
}

/** The run could not be started (RunRequested or RunStarted given up): thrown by `crawler.run()`, which did not crawl. */
export class RunSagaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RunSagaError";
  }
}

const WRAPPED = Symbol.for("runsaga-crawlee.wrapped");

class Run {
  readonly started = new Date();
  buffer: WireItem[] = [];
  items = 0;
  batches = 0;
  confirmedBatches = 0;
  /** Between the start messages' confirms and the end of `crawler.run()`. */
  crawling = false;
  /** undefined: not stopped; null: `crawler.stop()` without a reason. */
  stopReason: string | null | undefined = undefined;
  interrupted = false;
  /** Crawlee skipped a request because maxRequestsPerCrawl was reached (its handleSkippedRequest, reason `limit`). */
  limitReached = false;
  outcome: RunSagaStats["outcome"] = "running";
  errorCode: string | undefined;
  waits = 0;
  waitMs = 0;

  constructor(readonly id: string, readonly publisher: RunPublisher) {}
}

/** The RunSaga side of one crawler: settings, and the current or last run's stats. */
export class RunSaga {
  private run: Run | undefined;
  private current: Run | undefined;
  private readonly mapping: ItemMapping | undefined;
  private stopCrawler: (reason: string) => void = () => undefined;

  constructor(
    private readonly crawler: CrawlerLike,
    /** undefined: RunSaga is off (no RUNSAGA_AMQP_URL). */
    readonly settings: Settings | undefined,
    private readonly log: Logger,
  ) {
    this.mapping = settings === undefined ? undefined : new ItemMapping({
      keyField: settings.keyField,
      titleField: settings.titleField,
      urlField: settings.urlField,
      mapper: settings.itemMapper,
    });
  }

  get enabled(): boolean {
    return this.settings !== undefined;
  }

  /** The current or last run's id. */
  get runId(): string | undefined {
    return this.run?.id;
  }

  /** The current or last run's stats; undefined before the first run (or when RunSaga is off). */
  get stats(): RunSagaStats | undefined {
    const run = this.run;
    if (run === undefined || this.settings === undefined) {
      return undefined;
    }
    return {
      runId: run.id,
      source: this.settings.source,
      items: run.items,
      batches: run.batches,
      confirmedBatches: run.confirmedBatches,
      outcome: run.outcome,
      ...(run.errorCode === undefined ? {} : { errorCode: run.errorCode }),
      reconnects: run.publisher.reconnects,
      backpressureWaits: run.waits,
      backpressureWaitMs: run.waitMs,
    };
  }

  /** Wraps the crawler's run, pushData and stop (on the instance). */
  attach(): void {
    const crawler = this.crawler as CrawlerLike & Record<string | symbol, unknown>;
    const originalRun = crawler.run;
    const originalPushData = crawler.pushData;
    const originalStop = crawler.stop;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const saga = this;
    crawler.run = function run(...args: unknown[]) {
      return saga.crawl(() => originalRun.apply(crawler, args));
    };
    crawler.pushData = function pushData(data: unknown, datasetIdOrName?: string) {
      return saga.push(data, (d) => originalPushData.call(crawler, d, datasetIdOrName));
    };
    crawler.stop = function stop(...args: [string?]) {
      saga.stopping(args[0]);
      return originalStop.apply(crawler, args);
    };
    this.stopCrawler = (reason) => {
      originalStop.call(crawler, reason);
    };
    const originalSkipped = (crawler as CrawlerLimits).handleSkippedRequest;
    if (typeof originalSkipped === "function") {
      (crawler as CrawlerLimits).handleSkippedRequest = function handleSkippedRequest(options) {
        if (options?.reason === "limit" && saga.current?.crawling === true) {
          saga.current.limitReached = true;
        }
        return originalSkipped.call(crawler, options);
      };
    }
    Object.defineProperty(crawler, WRAPPED, { value: this });
  }

  // --- the run -------------------------------------------------------------------------------------------------

  private async crawl<T>(crawl: () => Promise<T>): Promise<T> {
    const settings = this.settings as Settings;
    if (this.current !== undefined) {
      throw new Error(`This crawler is already running RunSaga run ${this.current.id}; wait for its crawler.run() to end`);
    }
    if (this.crawler.running === true) {
      return crawl(); // Crawlee refuses a second run of a running crawler; that is no second RunSaga run
    }
    const runId = newId();
    const publisher = new RunPublisher({
      amqpUrls: settings.amqpUrl,
      runId,
      retrySeconds: settings.retrySeconds,
      connectionName: `runsaga-crawlee-${settings.name}`,
      log: this.log,
    });
    const run = new Run(runId, publisher);
    this.run = run;
    this.current = run;
    const key = this.idempotencyKey(run);
    this.log.info(`RunSaga run ${run.id} started for source ${settings.source} (${settings.processType}) on ` +
      parseUrls(settings.amqpUrl).map(redact).join(", "));
    const request: Record<string, unknown> = {
      runId: run.id,
      source: settings.source,
      processType: settings.processType,
      requestedBy: `crawlee:${settings.name}`,
    };
    const started: Record<string, unknown> = { runId: run.id, source: settings.source, processType: settings.processType };
    if (key !== undefined) {
      request.idempotencyKey = started.idempotencyKey = key;
    }
    if (settings.spiderVersion) {
      request.pipelineVersion = settings.spiderVersion;
    }
    // The crawl begins once both are confirmed: a broker that refuses the login or stays away fails the run before a
    // page is fetched.
    const beginning = await Promise.all([
      publisher.submit("RunRequested", request, this.done(run, "RunRequested")),
      publisher.submit("RunStarted", started, this.done(run, "RunStarted")),
    ]);
    const refused = beginning.find((why) => why !== null);
    if (refused !== undefined && refused !== null) {
      await this.finish(run, { started: false });
      throw new RunSagaError(`RunSaga run ${run.id} could not be started, so the crawl did not run: ${refused}`);
    }

    run.crawling = true;
    const interrupted = (): void => {
      run.interrupted = true;
      // Crawlee's own SIGINT handler pauses the crawl; without one (not registered yet), Node's default exit applies.
      if (process.listenerCount("SIGINT") === 0) {
        process.kill(process.pid, "SIGINT");
      }
    };
    process.once("SIGINT", interrupted);
    let result: T | undefined;
    let threw = false;
    let crawlError: unknown;
    try {
      result = await crawl();
    } catch (error) {
      threw = true;
      crawlError = error;
    } finally {
      process.off("SIGINT", interrupted);
      run.crawling = false;
    }
    // A crawl cut short another way (autoscaledPool.abort(), a pool that gave up) resolves with requests still queued.
    let unfinished = false;
    if (!threw) {
      const requests = (this.crawler as unknown as CrawlerLimits).requestManager;
      try {
        unfinished = typeof requests?.isFinished === "function" && !(await requests.isFinished());
      } catch {
        unfinished = false; // the queue cannot say: no evidence the crawl was cut short
      }
    }
    await this.finish(run, { started: true, threw, crawlError, unfinished });
    if (threw) {
      throw crawlError;
    }
    return result as T;
  }

  private async push(data: unknown, toDataset: (data: unknown) => Promise<unknown>): Promise<unknown> {
    const run = this.current;
    const settings = this.settings as Settings;
    if (run === undefined || !run.crawling) {
      if (run !== undefined) {
        // A handler Crawlee gave up on (requestHandlerTimeoutSecs) may still push after the crawl ended: too late for
        // a run whose totals are being sent.
        this.log.warning(`RunSaga run ${run.id}: an item pushed after the crawl ended is not part of the run`);
      }
      return toDataset(data);
    }
    // Mapped and buffered before anything is awaited, so an item is in the run exactly when the push began during the
    // crawl: the end of the run cannot slip between them. An item the mapping refuses fails the push and is in neither.
    const items = (Array.isArray(data) ? data : [data]).map((item) => (this.mapping as ItemMapping).toWire(item, this.crawler));
    for (const item of items) {
      run.buffer.push(item);
      run.items += 1;
      if (run.buffer.length >= settings.batchSize) {
        this.sendBatch(run);
      }
    }
    let result: unknown;
    if (settings.pushToDataset) {
      result = await toDataset(data);
    }
    // Back-pressure: while more than maxPendingBatches messages are unconfirmed, the request handler waits here, and
    // Crawlee's bounded concurrency stops taking new requests.
    if (run.publisher.inFlight > settings.maxPendingBatches) {
      run.waits += 1;
      const since = Date.now();
      await run.publisher.whenAtMost(settings.maxPendingBatches);
      run.waitMs += Date.now() - since;
    }
    return result;
  }

  private stopping(reason: unknown): void {
    const run = this.current;
    if (run !== undefined && run.crawling && run.stopReason === undefined) {
      run.stopReason = typeof reason === "string" ? reason : null;
    }
  }

  private async finish(run: Run, end: { started: boolean; threw?: boolean; crawlError?: unknown; unfinished?: boolean }): Promise<void> {
    try {
      await this.sendLastWord(run, end);
    } finally {
      this.current = undefined;
    }
  }

  private async sendLastWord(run: Run, end: { started: boolean; threw?: boolean; crawlError?: unknown; unfinished?: boolean }): Promise<void> {
    const settings = this.settings as Settings;
    const publisher = run.publisher;
    if (run.buffer.length > 0) {
      this.sendBatch(run);
    }
    // The crawler's counters are the last crawl's until the next run() resets them: read only for a run that crawled.
    const { maxRequestsPerCrawl: maxRequests, handledRequestsCount: handled } = this.crawler as unknown as CrawlerLimits;
    const maxReached = end.started && (run.limitReached ||
      (typeof maxRequests === "number" && maxRequests > 0 && typeof handled === "number" && handled >= maxRequests));
    let name = "ScrapeFailed";

    // Once every batch is confirmed (or given up): the run's last word.
    let sent = false;
    const lastWord = (async (): Promise<"completed" | "failed"> => {
      await publisher.whenAtMost(0);
      const failure = publisher.failure;
      let code: string | undefined;
      let why = "";
      if (end.threw) {
        code = "CRAWLER_ERROR";
        why = end.crawlError instanceof Error ? end.crawlError.message || String(end.crawlError) : String(end.crawlError);
      } else if (failure !== null && (!end.started || run.stopReason === "runsaga_publish_failed")) {
        code = "RUNSAGA_PUBLISH_FAILED";
        why = `a message could not be published: ${failure}`;
      } else if (run.stopReason !== undefined) {
        code = run.stopReason === null ? "STOPPED" : errorCode(run.stopReason);
        why = run.stopReason === null
          ? "the crawl was stopped (crawler.stop() without a reason)"
          : `the crawl was stopped with reason ${JSON.stringify(run.stopReason)}`;
      } else if (run.interrupted) {
        code = "SHUTDOWN";
        why = "the crawl was interrupted (SIGINT)";
      } else if (maxReached) {
        code = "MAX_REQUESTS_PER_CRAWL";
        why = `the crawl ended at maxRequestsPerCrawl (${handled} of at most ${maxRequests} requests handled): ` +
          "it did not see the whole site";
      } else if (end.unfinished) {
        code = "CRAWL_INCOMPLETE";
        why = "crawler.run() ended with requests still in its queue (the crawl was aborted): it did not see the whole site";
      } else if (failure !== null) {
        code = "RUNSAGA_PUBLISH_FAILED";
        why = `a message could not be published: ${failure}`;
      }
      let message: Record<string, unknown>;
      if (code === undefined) {
        name = "ScrapeCompleted";
        message = { runId: run.id, totalItems: run.items, totalBatches: run.batches };
        if (run.items === 0) {
          this.log.warning(`RunSaga run ${run.id}: the crawl pushed no item. Items pushed with Dataset.pushData() or ` +
            "dataset.pushData() bypass RunSaga: use context.pushData() or crawler.pushData()");
        }
      } else {
        run.errorCode = code;
        message = {
          runId: run.id,
          errorCode: code,
          errorMessage: why.slice(0, 2000),
          errorDetail: `${run.items} items in ${run.batches} batches, ${run.confirmedBatches} confirmed`,
        };
      }
      const last = await publisher.submit(name, message);
      sent = last === null;
      if (last !== null) {
        this.log.error(`RunSaga run ${run.id}: ${name} could not be published (${last}). The run stays open until ` +
          "RunSaga's RUN_TIMEOUT fails it; no item of it is promoted.");
      }
      return name === "ScrapeCompleted" && last === null ? "completed" : "failed";
    })();

    // A broker that takes the messages but never confirms them (a quorum queue without its majority) would hold the end
    // of the crawl open for ever: after this long it ends without its last word confirmed, and the run stays open until
    // RunSaga's RUN_TIMEOUT fails it (or completes, if the broker did take a ScrapeCompleted it never confirmed).
    const limitSeconds = 2 * settings.retrySeconds + 60;
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), limitSeconds * 1000);
    });
    const outcome = await Promise.race([lastWord, watchdog]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      this.log.error(`RunSaga run ${run.id}: RabbitMQ has not confirmed the run's messages within ${limitSeconds} s; the ` +
        `crawl ends without a confirmed ${name}. The run stays open until RunSaga's RUN_TIMEOUT fails it, unless RabbitMQ ` +
        "took an unconfirmed ScrapeCompleted (then RunSaga completes it: every batch was confirmed before it).");
      run.outcome = "failed";
      await publisher.close(true);
    } else {
      run.outcome = outcome;
      await publisher.close();
    }
    if (outcome !== "timeout") {
      this.log.info(`RunSaga run ${run.id}: ${name} ${sent ? "sent" : "not sent"} (${run.items} items in ${run.batches} ` +
        `batches); outcome ${run.outcome}`);
    }
  }

  // --- helpers -------------------------------------------------------------------------------------------------

  private sendBatch(run: Run): void {
    run.batches += 1;
    const batchId = `b${String(run.batches).padStart(5, "0")}`;
    const batch = { runId: run.id, batchId, items: run.buffer };
    run.buffer = [];
    void run.publisher.submit("ItemsScraped", batch, this.done(run, "ItemsScraped", batchId));
  }

  private done(run: Run, name: string, batchId?: string): (why: string | null) => void {
    return (why) => {
      if (why === null) {
        if (batchId !== undefined) {
          run.confirmedBatches += 1;
        }
        return;
      }
      if (!why.startsWith("not published:")) {
        // (Those given up because of an earlier one add nothing to its error.)
        this.log.error(`RunSaga run ${run.id}: ${name}${batchId === undefined ? "" : ` ${batchId}`} was not published: ${why}`);
      }
      // The run can no longer complete: stop crawling for it (the end sends ScrapeFailed, if it still can).
      if (run.crawling && run.stopReason === undefined) {
        run.stopReason = "runsaga_publish_failed";
        this.stopCrawler(`RunSaga run ${run.id}: a message could not be published; the crawl stops (runsaga_publish_failed)`);
      }
    };
  }

  private idempotencyKey(run: Run): string | undefined {
    const settings = this.settings as Settings;
    if (settings.idempotencyKey === undefined) {
      return undefined;
    }
    return formatKey(settings.idempotencyKey, {
      source: settings.source,
      spider: settings.name,
      spider_version: settings.spiderVersion,
      date: run.started.toISOString().slice(0, 10),
      process_type: settings.processType,
    });
  }
}

function crawlerLogger(crawler: CrawlerLike): Logger | undefined {
  const log = crawler.log as Partial<Record<"info" | "warning" | "error", (message: string) => void>> | undefined;
  if (log && typeof log.info === "function" && typeof log.warning === "function" && typeof log.error === "function") {
    return {
      info: (message) => log.info!.call(log, message),
      warning: (message) => log.warning!.call(log, message),
      error: (message) => log.error!.call(log, message),
    };
  }
  return undefined;
}

/**
 * Makes every `crawler.run()` a RunSaga run: wraps the crawler's run, pushData and stop (on this instance only) and
 * returns the RunSaga handle (`.stats` after the run). Settings come from `options`, else the RUNSAGA_* environment
 * variables; a wrong one throws RunSagaConfigurationError now, before anything is crawled. Without an AMQP URI
 * RunSaga is off: the crawler is left as it is (and a warning is logged).
 */
export function withRunSaga<C extends CrawlerLike>(crawler: C, options: RunSagaOptions = {}): RunSaga {
  for (const method of ["run", "pushData", "stop"] as const) {
    if (typeof (crawler as Partial<CrawlerLike> | undefined)?.[method] !== "function") {
      throw new TypeError(`withRunSaga needs a Crawlee 3 crawler (BasicCrawler or a subclass): this one has no ${method}()`);
    }
  }
  if ((crawler as unknown as Record<symbol, unknown>)[WRAPPED] !== undefined) {
    throw new RunSagaConfigurationError("withRunSaga was called twice on this crawler");
  }
  const log = options.log ?? crawlerLogger(crawler) ?? consoleLogger;
  const className = (crawler as { constructor?: { name?: string } }).constructor?.name;
  const settings = resolveSettings(options, className || "crawler");
  const saga = new RunSaga(crawler, settings, log);
  if (settings === undefined) {
    log.warning("RUNSAGA_AMQP_URL is not set: RunSaga is off for this crawl");
    return saga;
  }
  saga.attach();
  return saga;
}
