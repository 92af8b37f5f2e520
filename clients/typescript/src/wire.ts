// RunSaga's wire contract as a Crawlee scraper sends it (docs/wire-format.md): exchange names, the envelope. The twin of
// clients/python/runsaga_scrapy/wire.py.

import { randomUUID } from "node:crypto";
import { hostname } from "node:os";

export const CONTRACTS_NAMESPACE = "RunSaga.Contracts";
export const ENVELOPE_CONTENT_TYPE = "application/vnd.masstransit+json";
export const SCRAPER_MESSAGES = ["RunRequested", "RunStarted", "ItemsScraped", "ScrapeCompleted", "ScrapeFailed"] as const;
export const PROCESS_TYPES = ["ingestion", "sync", "manual_reindex"] as const;

export type MessageName = (typeof SCRAPER_MESSAGES)[number];
export type ProcessType = (typeof PROCESS_TYPES)[number];

// A ScrapeFailed errorCode must match this; anything else is recorded by RunSaga as SCRAPER_ERROR.
const ERROR_CODE = /^[A-Z0-9_]{1,64}$/;

/** MassTransit names a message type's exchange `Namespace:TypeName` (fanout, durable). */
export const exchangeName = (messageName: string): string => `${CONTRACTS_NAMESPACE}:${messageName}`;

export const messageUrn = (messageName: string): string => `urn:message:${CONTRACTS_NAMESPACE}:${messageName}`;

/** A stop reason ("stopped_half_way", "runsaga_publish_failed") as a ScrapeFailed errorCode: STOPPED_HALF_WAY. */
export function errorCode(reason: string | undefined | null): string {
  const code = (reason ?? "").toUpperCase().replace(/[^A-Z0-9_]/g, "_").slice(0, 64);
  return ERROR_CODE.test(code) ? code : "SCRAPE_FAILED";
}

export const newId = (): string => randomUUID();

/**
 * MassTransit's JSON envelope around one message (content type application/vnd.masstransit+json), as UTF-8 bytes.
 *
 * NaN and Infinity are not JSON (JSON.stringify would quietly send them as null): a message holding one throws here,
 * and the publisher gives it up with the reason instead of RunSaga reading a different value. A BigInt is sent as its
 * text, a Date as its ISO text (its toJSON), as the Python package sends the values JSON has no type for.
 */
export function envelope(messageName: string, message: object, messageId: string, runId: string): Buffer {
  const body = {
    messageId,
    correlationId: runId,
    conversationId: runId,
    sentTime: new Date().toISOString(),
    messageType: [messageUrn(messageName)],
    message,
    host: {
      machineName: hostname(),
      processName: "crawlee",
      processId: process.pid,
      assembly: "runsaga-crawlee",
    },
  };
  const text = JSON.stringify(body, (key: string, value: unknown) => {
    if (typeof value === "number" && !Number.isFinite(value)) {
      throw new RangeError(`${value} is not a JSON number (field ${JSON.stringify(key)}): the item cannot be sent as it is`);
    }
    return typeof value === "bigint" ? value.toString() : value;
  });
  return Buffer.from(text, "utf8");
}

/** The URI without its password, for logs (also when the URI itself is malformed). */
export function redact(uri: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^@/?#]*)@/i.exec(uri);
  if (match === null) {
    return uri;
  }
  const user = match[2].split(":", 1)[0];
  return `${match[1]}${user}:***@${uri.slice(match[0].length)}`;
}

/**
 * The AMQP URIs of RUNSAGA_AMQP_URL (comma-separated), each checked now: a bad one is a configuration error that must
 * stop the crawl before it starts, not a message given up later.
 */
export function parseUrls(amqpUrls: string | undefined): string[] {
  const urls = (amqpUrls ?? "").split(",").map((u) => u.trim()).filter((u) => u.length > 0);
  if (urls.length === 0) {
    throw new Error("RUNSAGA_AMQP_URL is empty: give the AMQP URI of RunSaga's broker (the scraper user)");
  }
  for (const url of urls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (error) {
      throw new Error(`RUNSAGA_AMQP_URL: ${redact(url)} is not a valid AMQP URI (${(error as Error).message})`);
    }
    if (parsed.protocol !== "amqp:" && parsed.protocol !== "amqps:") {
      throw new Error(`RUNSAGA_AMQP_URL: ${redact(url)} is not a valid AMQP URI (the scheme must be amqp or amqps)`);
    }
    if (!parsed.hostname) {
      throw new Error(`RUNSAGA_AMQP_URL: ${redact(url)} is not a valid AMQP URI (no host)`);
    }
  }
  return urls;
}
