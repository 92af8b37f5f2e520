// The settings of a RunSaga crawl: an options object (camelCase), each falling back to the environment variable of the
// same meaning, named exactly as the Scrapy package's settings (docs/scrapers.md, "Settings"). Checked when read, so
// that a configuration error stops the crawl before it starts.

import { ItemMapper } from "./items.js";
import { PROCESS_TYPES, ProcessType, parseUrls } from "./wire.js";

export interface RunSagaOptions {
  /** RUNSAGA_AMQP_URL: AMQP URI of RunSaga's broker, the scraper user; several separated by commas for a cluster. None: RunSaga is off. */
  amqpUrl?: string;
  /** RUNSAGA_SOURCE: the run's source. Default: `name`. */
  source?: string;
  /** RUNSAGA_PROCESS_TYPE: `ingestion` (default), `sync` or `manual_reindex`. */
  processType?: ProcessType;
  /** RUNSAGA_BATCH_SIZE: items per ItemsScraped batch, 1 to 10,000 (default 500). */
  batchSize?: number;
  /** RUNSAGA_IDEMPOTENCY_KEY: the key, or a template of {source}, {spider}, {date}, {spider_version}, {process_type}. */
  idempotencyKey?: string;
  /** RUNSAGA_SPIDER_VERSION: the run's pipelineVersion, and {spider_version} in the key template. */
  spiderVersion?: string;
  /** RUNSAGA_KEY_FIELD (default `key`). */
  keyField?: string;
  /** RUNSAGA_TITLE_FIELD (default `title`). */
  titleField?: string;
  /** RUNSAGA_URL_FIELD (default `url`). */
  urlField?: string;
  /** `(item, crawler)` → an item in RunSaga's shape, or null for the default mapping (no environment variable). */
  itemMapper?: ItemMapper;
  /** RUNSAGA_MAX_PENDING_BATCHES: unconfirmed messages before pushData waits (default 4). */
  maxPendingBatches?: number;
  /** RUNSAGA_RETRY_SECONDS: how long a message is published again over lost connections before it is given up (default 120). */
  retrySeconds?: number;
  /** The crawler's name, Scrapy's spider name: {spider} in the key template, the default source, `requestedBy`. Default: the crawler's class name. */
  name?: string;
  /** Whether pushed items still go to the crawler's dataset too (default true); false: to RunSaga only. */
  pushToDataset?: boolean;
  /** Where to log (default: the crawler's `log`). */
  log?: { info(message: string): void; warning(message: string): void; error(message: string): void };
  /** The environment the RUNSAGA_* fallbacks are read from (default `process.env`). */
  env?: Record<string, string | undefined>;
}

/** Template fields RUNSAGA_IDEMPOTENCY_KEY may use. */
export const KEY_FIELDS = ["source", "spider", "spider_version", "date", "process_type"] as const;

export interface Settings {
  amqpUrl: string;
  source: string;
  name: string;
  processType: ProcessType;
  batchSize: number;
  idempotencyKey?: string;
  spiderVersion: string;
  keyField: string;
  titleField: string;
  urlField: string;
  itemMapper?: ItemMapper;
  maxPendingBatches: number;
  retrySeconds: number;
  pushToDataset: boolean;
}

/** A setting that is wrong: thrown before the crawl starts. */
export class RunSagaConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RunSagaConfigurationError";
  }
}

/** The field names of a `{name}` template (`{{` and `}}` are literal braces). */
function templateFields(template: string): string[] {
  const names: string[] = [];
  const pattern = /\{\{|\}\}|\{([^{}]*)\}|[{}]/g;
  for (let match = pattern.exec(template); match !== null; match = pattern.exec(template)) {
    if (match[0] === "{" || match[0] === "}") {
      throw new RunSagaConfigurationError(`RUNSAGA_IDEMPOTENCY_KEY ${JSON.stringify(template)}: a single '${match[0]}' (write '${match[0]}${match[0]}' for a brace)`);
    }
    if (match[1] !== undefined) {
      names.push(match[1]);
    }
  }
  return names;
}

/** The template filled in, as Python's str.format does. */
export function formatKey(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (whole, name: string | undefined) =>
    whole === "{{" ? "{" : whole === "}}" ? "}" : values[name ?? ""] ?? "");
}

/**
 * The settings: each option, else its RUNSAGA_* environment variable, else the default. Returns undefined when no AMQP
 * URI is set (RunSaga is off, as the Scrapy extension is without RUNSAGA_AMQP_URL); throws RunSagaConfigurationError
 * for a value that is wrong.
 */
export function resolveSettings(options: RunSagaOptions, defaultName: string): Settings | undefined {
  const env = options.env ?? process.env;
  const text = (option: string | undefined, variable: string): string | undefined => {
    if (option !== undefined && option !== null) {
      return String(option);
    }
    const value = env[variable];
    return value === undefined || value === "" ? undefined : value;
  };
  const number = (option: number | undefined, variable: string, fallback: number, integer: boolean, min: number, max = Infinity): number => {
    const raw = option ?? text(undefined, variable);
    if (raw === undefined) {
      return fallback;
    }
    const value = typeof raw === "number" ? raw : Number(String(raw).trim());
    if (typeof raw === "string" && String(raw).trim() === "") {
      return fallback;
    }
    if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
      const range = max === Infinity ? `at least ${min}` : `between ${min} and ${max}`;
      throw new RunSagaConfigurationError(`${variable} must be ${integer ? "an integer" : "a number"} ${range}, not ${JSON.stringify(raw)}` +
        (variable === "RUNSAGA_BATCH_SIZE" ? " (RunSaga refuses larger batches)" : ""));
    }
    return value;
  };

  const amqpUrl = text(options.amqpUrl, "RUNSAGA_AMQP_URL");
  if (amqpUrl === undefined || amqpUrl.trim() === "") {
    return undefined;
  }
  try {
    parseUrls(amqpUrl);
  } catch (error) {
    throw new RunSagaConfigurationError((error as Error).message);
  }
  const name = options.name ?? defaultName;
  const processType = text(options.processType, "RUNSAGA_PROCESS_TYPE") ?? "ingestion";
  if (!(PROCESS_TYPES as readonly string[]).includes(processType)) {
    throw new RunSagaConfigurationError(`RUNSAGA_PROCESS_TYPE must be one of ${PROCESS_TYPES.join(", ")}, not ${JSON.stringify(processType)}`);
  }
  const batchSize = number(options.batchSize, "RUNSAGA_BATCH_SIZE", 500, true, 1, 10_000);
  const maxPendingBatches = number(options.maxPendingBatches, "RUNSAGA_MAX_PENDING_BATCHES", 4, true, 0);
  const retrySeconds = number(options.retrySeconds, "RUNSAGA_RETRY_SECONDS", 120, false, 0);
  const idempotencyKey = text(options.idempotencyKey, "RUNSAGA_IDEMPOTENCY_KEY");
  if (idempotencyKey !== undefined) {
    const unknown = [...new Set(templateFields(idempotencyKey).filter((f) => !(KEY_FIELDS as readonly string[]).includes(f)))].sort();
    if (unknown.length > 0) {
      throw new RunSagaConfigurationError(`RUNSAGA_IDEMPOTENCY_KEY names unknown fields ${JSON.stringify(unknown)}; known: ${KEY_FIELDS.join(", ")}`);
    }
  }
  if (options.itemMapper !== undefined && typeof options.itemMapper !== "function") {
    throw new RunSagaConfigurationError("itemMapper must be a function (item, crawler) => item in RunSaga's shape, or null");
  }
  return {
    amqpUrl,
    name,
    source: text(options.source, "RUNSAGA_SOURCE") ?? name,
    processType: processType as ProcessType,
    batchSize,
    idempotencyKey,
    spiderVersion: text(options.spiderVersion, "RUNSAGA_SPIDER_VERSION") ?? "",
    keyField: text(options.keyField, "RUNSAGA_KEY_FIELD") ?? "key",
    titleField: text(options.titleField, "RUNSAGA_TITLE_FIELD") ?? "title",
    urlField: text(options.urlField, "RUNSAGA_URL_FIELD") ?? "url",
    itemMapper: options.itemMapper,
    maxPendingBatches,
    retrySeconds,
    pushToDataset: options.pushToDataset ?? true,
  };
}
