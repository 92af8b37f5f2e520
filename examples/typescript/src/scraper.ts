// Example RunSaga scraper: publishes one whole run to RabbitMQ.
//
// RunRequested, RunStarted, ceil(items / batch-size) ItemsScraped batches, then ScrapeCompleted
// {totalItems, totalBatches} (or ScrapeFailed with --fail). Every message is MassTransit's JSON envelope
// (content type application/vnd.masstransit+json) unless --plain-json is given. The wire contract is
// docs/wire-format.md; examples/python/scraper.py does the same in Python.
//
// The last line on stdout is `run_id=<uuid>`; progress goes to stderr.

import { createHash, randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import * as amqp from "amqplib";

const CONTRACTS_NAMESPACE = "RunSaga.Contracts";
const ENVELOPE_CONTENT_TYPE = "application/vnd.masstransit+json";
const PLAIN_JSON_CONTENT_TYPE = "application/json";
const PROCESS_TYPES = ["ingestion", "sync", "manual_reindex"] as const;

type ProcessType = (typeof PROCESS_TYPES)[number];
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface ScrapedItem extends JsonObject {
  key: string;
  title: string;
  url: string;
  data: JsonObject;
}

interface Options {
  amqp: string;
  source: string;
  items: number;
  batchSize: number;
  runId: string;
  processType: ProcessType;
  idempotencyKey?: string;
  seed: number;
  changeEvery?: number;
  fail: boolean;
  plainJson: boolean;
  quiet: boolean;
}

const TAGS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"];
const WORDS = ["solar", "river", "granite", "maple", "harbor", "copper", "meadow", "signal", "lantern", "orbit",
  "cedar", "quartz", "willow", "ember", "summit", "tide"];

const USAGE = `Usage: node dist/scraper.js [options]

Publish one example scraper run to RunSaga over RabbitMQ.

  --amqp URI             AMQP URI with the scraper user's credentials (default: $RABBITMQ_URL;
                         scripts/up writes it to .run/scraper.env); for a cluster, one URI per
                         node separated by commas, tried in order
  --source NAME          what is scraped (default: demo)
  --items N              number of items (default: 250)
  --batch-size N         items per ItemsScraped batch (default: 100)
  --run-id UUID          run id (default: a new random UUID)
  --process-type TYPE    ingestion | sync | manual_reindex (default: ingestion)
  --idempotency-key KEY  e.g. source:inputVersion:pipelineVersion
  --seed N               item content is derived from seed+index (default: 1)
  --change-every K       every K-th item gets a title that differs per run (demo of updates)
  --fail                 publish ScrapeFailed instead of ScrapeCompleted
  --plain-json           send plain JSON (application/json + MT-MessageType header) instead of the envelope
  --quiet                no progress on stderr
  --help                 this text
`;

class UsageError extends Error {}

const exchangeName = (messageName: string): string => `${CONTRACTS_NAMESPACE}:${messageName}`;
const messageUrn = (messageName: string): string => `urn:message:${CONTRACTS_NAMESPACE}:${messageName}`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      amqp: { type: "string", default: process.env.RABBITMQ_URL ?? "" },
      source: { type: "string", default: "demo" },
      items: { type: "string", default: "250" },
      "batch-size": { type: "string", default: "100" },
      "run-id": { type: "string" },
      "process-type": { type: "string", default: "ingestion" },
      "idempotency-key": { type: "string" },
      seed: { type: "string", default: "1" },
      "change-every": { type: "string" },
      fail: { type: "boolean", default: false },
      "plain-json": { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }

  const integer = (flag: string, text: string | undefined, min: number): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) {
      throw new UsageError(`--${flag} must be an integer >= ${min} (got ${JSON.stringify(text)})`);
    }
    return value;
  };

  const processType = values["process-type"] as string;
  if (!(PROCESS_TYPES as readonly string[]).includes(processType)) {
    throw new UsageError(`--process-type must be one of ${PROCESS_TYPES.join(", ")}`);
  }
  // RunSaga reads Guids in the dashed form only.
  const runId = (values["run-id"] ?? randomUUID()).toLowerCase();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(runId)) {
    throw new UsageError(`--run-id ${JSON.stringify(values["run-id"])} is not a dashed UUID`);
  }

  if (!values.amqp) {
    throw new UsageError(
      "no broker: set RABBITMQ_URL (or --amqp) to the AMQP URI of your scraper user, e.g. " +
        "amqp://runsaga-scraper:<password>@localhost:5672/ (scripts/up writes it to .run/scraper.env)");
  }

  return {
    amqp: values.amqp as string,
    source: values.source as string,
    items: integer("items", values.items, 0),
    batchSize: integer("batch-size", values["batch-size"], 1),
    runId,
    processType: processType as ProcessType,
    idempotencyKey: values["idempotency-key"],
    seed: integer("seed", values.seed, Number.MIN_SAFE_INTEGER),
    changeEvery: values["change-every"] === undefined ? undefined : integer("change-every", values["change-every"], 1),
    fail: values.fail as boolean,
    plainJson: values["plain-json"] as boolean,
    quiet: values.quiet as boolean,
  };
}

/**
 * Item number `index` (1-based). Its content depends only on (seed, index): SHA-256 of "<seed>:<index>",
 * exactly as in the Python example, so both produce the same items for the same seed.
 */
function makeItem(seed: number, index: number, runId: string, changeEvery?: number): ScrapedItem {
  const h = createHash("sha256").update(`${seed}:${index}`).digest();
  const word = (byte: number): string => WORDS[byte % WORDS.length];
  const first = word(h[0]);
  let title = `${first[0].toUpperCase()}${first.slice(1)} ${word(h[1])} #${index}`;
  if (changeEvery !== undefined && index % changeEvery === 0) {
    // Different in every run, so each run with --change-every reports these as updated.
    title = `${title} (rev ${runId.slice(0, 8)})`;
  }
  return {
    key: `item-${String(index).padStart(5, "0")}`,
    title,
    url: `https://example.test/items/${index}`,
    data: {
      price: (h.readUInt32BE(2) % 100_000) / 100,
      currency: "EUR",
      rank: h.readUInt16BE(6) % 1000,
      tags: [...h.subarray(8, 11)].map((b) => TAGS[b % TAGS.length]),
      inStock: h[11] % 2 === 0,
      summary: [...h.subarray(12, 18)].map(word).join(" "),
    },
  };
}

function redact(uri: string): string {
  try {
    const url = new URL(uri);
    if (url.password) {
      url.password = "***";
    }
    return url.toString();
  } catch {
    return uri;
  }
}

class Publisher {
  private readonly declared = new Set<string>();
  private readonly conversationId = randomUUID();
  readonly unroutable = new Map<string, number>();
  published = 0;

  private constructor(
    private readonly connection: amqp.ChannelModel,
    private readonly channel: amqp.ConfirmChannel,
    private readonly runId: string,
    private readonly plainJson: boolean,
  ) {
    // With mandatory: true the broker hands back a message that no queue receives (basic.return comes
    // before the confirm), usually because RunSaga has never been started against this broker.
    channel.on("return", (message: amqp.ConsumeMessage) => {
      const exchange = message.fields.exchange;
      const count = this.unroutable.get(exchange) ?? 0;
      if (count === 0) {
        process.stderr.write(
          `scraper.ts: WARNING: no queue is bound to exchange '${exchange}': the message was accepted by ` +
            "RabbitMQ but dropped. Start RunSaga once (scripts/up) so its queues exist.\n",
        );
      }
      this.unroutable.set(exchange, count + 1);
    });
  }

  static async open(uri: string, runId: string, plainJson: boolean): Promise<Publisher> {
    // Several URIs, separated by commas: the nodes of a RabbitMQ cluster, tried in order.
    const nodes = uri.split(",").map((u) => u.trim()).filter((u) => u.length > 0);
    let connection: amqp.ChannelModel | undefined;
    let lastError: unknown;
    for (const node of nodes) {
      try {
        connection = await amqp.connect(node, { clientProperties: { connection_name: "runsaga-example-typescript" } });
        break;
      } catch (error) {
        lastError = error;
      }
    }
    if (connection === undefined) {
      throw lastError ?? new Error("no AMQP URI given");
    }
    // Publisher confirms: each publish resolves only once the broker has taken responsibility for it.
    const channel = await connection.createConfirmChannel();
    return new Publisher(connection, channel, runId, plainJson);
  }

  async close(): Promise<void> {
    await this.channel.close();
    await this.connection.close();
  }

  async publish(messageName: string, message: JsonObject): Promise<void> {
    const exchange = exchangeName(messageName);
    if (!this.declared.has(exchange)) {
      // A publish to an exchange that does not exist yet is silently dropped by RabbitMQ (the broker
      // closes the channel asynchronously with 404 NOT_FOUND). The exchanges only exist once RunSaga has
      // started at least once, so publishers declare them themselves. Declaring is idempotent as long as
      // the flags equal MassTransit's: fanout, durable, not auto-delete, no arguments.
      await this.channel.assertExchange(exchange, "fanout", { durable: true, autoDelete: false });
      this.declared.add(exchange);
    }

    const messageId = randomUUID();
    let body: Buffer;
    let options: amqp.Options.Publish;
    if (this.plainJson) {
      // Plain JSON: the body is the message; its type travels in the MT-MessageType header. Without that
      // header RunSaga moves the message to the endpoint's _error queue.
      body = Buffer.from(JSON.stringify(message));
      options = {
        contentType: PLAIN_JSON_CONTENT_TYPE,
        persistent: true,
        mandatory: true,
        messageId,
        correlationId: this.runId,
        headers: { "MT-MessageType": messageUrn(messageName) },
      };
    } else {
      const envelope = {
        messageId,
        correlationId: this.runId,
        conversationId: this.conversationId,
        sentTime: new Date().toISOString(),
        messageType: [messageUrn(messageName)],
        message,
        host: {
          machineName: hostname(),
          processName: "scraper.js",
          processId: process.pid,
          assembly: "runsaga-example-typescript",
        },
      };
      body = Buffer.from(JSON.stringify(envelope));
      options = { contentType: ENVELOPE_CONTENT_TYPE, persistent: true, mandatory: true, messageId };
    }

    await new Promise<void>((resolve, reject) => {
      this.channel.publish(exchange, "", body, options, (err) =>
        err ? reject(new Error(`the broker refused the ${messageName} message (nack)`)) : resolve(),
      );
    });
    this.published += 1;
  }
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`scraper.ts: ${(e as Error).message}\n\n${USAGE}`);
    return 64;
  }
  const log = (text: string): void => {
    if (!options.quiet) {
      process.stderr.write(`scraper.ts: ${text}\n`);
    }
  };
  const { runId } = options;

  let publisher: Publisher;
  try {
    publisher = await Publisher.open(options.amqp, runId, options.plainJson);
  } catch (e) {
    process.stderr.write(
      `scraper.ts: cannot connect to RabbitMQ at ${redact(options.amqp)}: ${(e as Error).message}\n` +
        "Is RabbitMQ running and are the credentials right? (scripts/up starts it; --amqp or RABBITMQ_URL " +
        "chooses the broker.)\n",
    );
    return 2;
  }

  const batches: Array<{ batchId: string; items: ScrapedItem[] }> = [];
  for (let start = 0, n = 1; start < options.items; start += options.batchSize, n += 1) {
    const items: ScrapedItem[] = [];
    for (let i = start + 1; i <= Math.min(start + options.batchSize, options.items); i += 1) {
      items.push(makeItem(options.seed, i, runId, options.changeEvery));
    }
    batches.push({ batchId: `b${String(n).padStart(4, "0")}`, items });
  }

  try {
    log(
      `run ${runId}: source=${options.source} processType=${options.processType} items=${options.items} ` +
        `batches=${batches.length} broker=${redact(options.amqp)}${options.plainJson ? " (plain JSON)" : ""}`,
    );
    const requested: JsonObject = {
      runId,
      source: options.source,
      processType: options.processType,
      requestedBy: `scraper.ts@${hostname()}`,
      metadata: { example: "typescript", seed: String(options.seed) },
    };
    if (options.idempotencyKey) {
      requested.idempotencyKey = options.idempotencyKey;
    }
    await publisher.publish("RunRequested", requested);
    log("RunRequested");
    // The key on RunStarted too: a duplicate run id then never runs, whichever message arrives first.
    await publisher.publish("RunStarted", {
      runId,
      source: options.source,
      processType: options.processType,
      ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
    });
    log("RunStarted");

    for (const { batchId, items } of batches) {
      await publisher.publish("ItemsScraped", { runId, batchId, items });
      log(`ItemsScraped ${batchId} (${items.length} items)`);
    }

    if (options.fail) {
      await publisher.publish("ScrapeFailed", {
        runId,
        errorCode: "SCRAPER_FAILED",
        errorMessage: "the example scraper was asked to fail (--fail)",
        errorDetail: `items=${options.items} batches=${batches.length} seed=${options.seed}`,
      });
      log("ScrapeFailed");
    } else {
      await publisher.publish("ScrapeCompleted", { runId, totalItems: options.items, totalBatches: batches.length });
      log(`ScrapeCompleted (totalItems=${options.items}, totalBatches=${batches.length})`);
    }
  } catch (e) {
    process.stderr.write(`scraper.ts: publishing failed after ${publisher.published} messages: ${(e as Error).message}\n`);
    return 3;
  } finally {
    await publisher.close().catch(() => undefined);
  }

  const dropped = [...publisher.unroutable.values()].reduce((a, b) => a + b, 0);
  if (dropped > 0) {
    process.stderr.write(`scraper.ts: WARNING: ${dropped} of ${publisher.published} messages reached no queue\n`);
  }
  log(`published ${publisher.published} messages`);
  process.stdout.write(`run_id=${runId}\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`scraper.ts: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
