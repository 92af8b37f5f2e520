// The run's publisher: one AMQP connection with a confirm channel, publishing every message of the run in order, one
// at a time, each counted only once RabbitMQ has confirmed it. The twin of clients/python/runsaga_scrapy/publisher.py;
// Node has no threads to spare, so where the Python package has a publishing thread this has one asynchronous loop, and
// the crawler's code never waits on RabbitMQ except where it asks to (back-pressure, the end of the run).

import * as amqp from "amqplib";
import { ENVELOPE_CONTENT_TYPE, envelope, exchangeName, newId, parseUrls, redact } from "./wire.js";

/** Where the package logs: Crawlee's `crawler.log`, or anything with these three methods. */
export interface Logger {
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
}

export const consoleLogger: Logger = {
  info: (message) => console.log(`INFO  RunSaga: ${message}`),
  warning: (message) => console.error(`WARN  RunSaga: ${message}`),
  error: (message) => console.error(`ERROR RunSaga: ${message}`),
};

/** null: the message is confirmed; a text: it was given up, and why. */
export type Outcome = string | null;

interface Outgoing {
  name: string;
  message: object;
  /** Fixed when the message is made: a message published again after a lost connection carries the same id. */
  messageId: string;
  done: (why: Outcome) => void;
}

/** An answer no retry will change: wrong credentials, a refused virtual host, a 403 or a 406. */
class GiveUp extends Error {}

interface AmqpError extends Error {
  code?: number | string;
}

// Broker answers that no retry will change: a permission refused (403), a message or exchange the broker refuses (406:
// wrong exchange flags, a message over its size limit). The message is given up at once.
const PERMANENT_REPLY_CODES = new Set([403, 406]);

const CONNECT_TIMEOUT_MS = 5_000;
const CLOSE_TIMEOUT_MS = 5_000;
const MIN_ATTEMPT_MS = 10_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface PublisherOptions {
  /** RUNSAGA_AMQP_URL: one URI, or several separated by commas (the nodes of a cluster, tried in order). */
  amqpUrls: string;
  runId: string;
  /** How long a message is published again over lost connections before it is given up. */
  retrySeconds: number;
  /** Shown in RabbitMQ's management UI. */
  connectionName: string;
  log?: Logger;
}

/**
 * Publishes a run's messages in order on one confirmed channel.
 *
 * A message counts as published only once RabbitMQ has confirmed it. A lost connection is opened again (every node of
 * `amqpUrls` in turn) and the message published again with the same message id, for up to `retrySeconds`; a message
 * not confirmed by then is given up, and so is everything behind it but a ScrapeFailed (the run cannot complete with a
 * batch missing). A refused login, a refused virtual host, a 403 or a 406 is given up at once.
 */
export class RunPublisher {
  readonly runId: string;
  /** Why the first message given up was given up; null while none was. */
  failure: string | null = null;
  /** Connections opened after the first (a lost one replaced). */
  reconnects = 0;

  private readonly urls: string[];
  private readonly retryMs: number;
  private readonly connectionName: string;
  private readonly log: Logger;
  private readonly queue: Outgoing[] = [];
  private readonly declared = new Set<string>();
  private readonly returned = new Set<string>();
  private waiters: Array<{ count: number; resolve: () => void }> = [];
  private unsettled = 0;
  private pumping = false;
  private stopped = false;
  private connections = 0;
  private connection: amqp.ChannelModel | undefined;
  private channel: amqp.ConfirmChannel | undefined;
  private channelOpen = false;
  /** Incremented by every close: a connection that opens after its attempt was abandoned is closed at once. */
  private epoch = 0;
  private channelError: AmqpError | undefined;
  private connectionError: AmqpError | undefined;

  constructor(options: PublisherOptions) {
    this.urls = parseUrls(options.amqpUrls);
    this.runId = options.runId;
    this.retryMs = Math.max(0, options.retrySeconds) * 1000;
    this.connectionName = options.connectionName;
    this.log = options.log ?? consoleLogger;
  }

  /** Messages handed over and not yet confirmed or given up. */
  get inFlight(): number {
    return this.unsettled;
  }

  /**
   * Hands one message over; it is published after every message handed over before it. The promise resolves (it never
   * rejects) once the message is confirmed (null) or given up (why); `done` is called just before.
   */
  submit(name: string, message: object, done?: (why: Outcome) => void): Promise<Outcome> {
    this.unsettled += 1;
    return new Promise<Outcome>((resolve) => {
      this.queue.push({
        name,
        message,
        messageId: newId(),
        done: (why) => {
          try {
            done?.(why);
          } catch (error) {
            this.log.error(`RunSaga run ${this.runId}: the callback of ${name} failed: ${describe(error)}`);
          }
          resolve(why);
        },
      });
      void this.pump();
    });
  }

  /** Resolves once at most `count` messages are unconfirmed (at once if they are already). */
  whenAtMost(count: number): Promise<void> {
    if (this.unsettled <= count) {
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.waiters.push({ count, resolve }));
  }

  /**
   * Closes the connection once the messages handed over are settled. With `abandon`, at once: the message being
   * published and those waiting are given up ("the publisher was closed"), the socket is destroyed if RabbitMQ does
   * not answer the close. Never rejects.
   */
  async close(abandon = false): Promise<void> {
    if (!abandon) {
      await this.whenAtMost(0);
    }
    this.stopped = true;
    for (const out of this.queue.splice(0)) {
      this.settle(out, "not published: the publisher was closed");
    }
    await this.closeConnection();
  }

  // --- the publishing loop -------------------------------------------------------------------------------------

  private async pump(): Promise<void> {
    if (this.pumping) {
      return;
    }
    this.pumping = true;
    try {
      for (let out = this.queue.shift(); out !== undefined; out = this.queue.shift()) {
        let why: Outcome;
        if (this.stopped) {
          why = "not published: the publisher was closed";
        } else if (this.failure !== null && out.name !== "ScrapeFailed") {
          // Nothing after a lost message may reach RunSaga as if the run were whole; a ScrapeFailed still may.
          why = `not published: an earlier message was given up (${this.failure})`;
        } else {
          try {
            why = await this.publishWithRetry(out);
          } catch (error) {
            // Whatever it was, the message is settled, or the end of the run would wait for ever.
            this.log.error(`RunSaga run ${this.runId}: publishing ${out.name} failed unexpectedly: ${describe(error)}`);
            why = describe(error);
          }
          if (why !== null && this.failure === null) {
            this.failure = why;
          }
        }
        this.settle(out, why);
      }
    } finally {
      this.pumping = false;
    }
  }

  private settle(out: Outgoing, why: Outcome): void {
    this.unsettled -= 1;
    out.done(why);
    const ready = this.waiters.filter((w) => this.unsettled <= w.count);
    this.waiters = this.waiters.filter((w) => this.unsettled > w.count);
    for (const waiter of ready) {
      waiter.resolve();
    }
  }

  private async publishWithRetry(out: Outgoing): Promise<Outcome> {
    const exchange = exchangeName(out.name);
    let body: Buffer;
    try {
      body = envelope(out.name, out.message, out.messageId, this.runId);
    } catch (error) {
      return `${out.name} cannot be sent: ${describe(error)}`;
    }
    const deadline = Date.now() + this.retryMs;
    let delay = 500;
    for (;;) {
      let why: string;
      const attemptStart = Date.now();
      try {
        // Each attempt may take until the deadline, and at least long enough to connect and be confirmed once.
        const attemptDeadline = Math.max(deadline, Date.now() + MIN_ATTEMPT_MS);
        const returned = await this.withDeadline(attemptDeadline, async () => {
          const channel = await this.ensureChannel();
          if (!this.declared.has(exchange)) {
            // Publishers declare the exchanges themselves, with MassTransit's flags: a message sent to an exchange that
            // does not exist yet is dropped by RabbitMQ.
            await channel.assertExchange(exchange, "fanout", { durable: true, autoDelete: false });
            this.declared.add(exchange);
          }
          return this.publishConfirmed(channel, exchange, body, out.messageId);
        });
        if (returned) {
          return `${exchange} has no queue bound: RabbitMQ dropped the message. Start RunSaga once against this broker ` +
            "(its queues bind the exchanges), then crawl again";
        }
        return null;
      } catch (error) {
        if (error instanceof GiveUp) {
          await this.closeConnection();
          return error.message;
        }
        const refused = this.refusal(error);
        if (refused !== undefined) {
          await this.closeConnection();
          return `RabbitMQ refused ${out.name} (${refused}); publishing it again would not help`;
        }
        why = error instanceof DeadlineExceeded
          ? `RabbitMQ did not confirm it within ${Math.round((Date.now() - attemptStart) / 1000)} s`
          : /message nacked/.test(describe(error)) ? "RabbitMQ refused the message (nack)" : this.lost(error);
      }
      await this.closeConnection();
      if (this.stopped) {
        return `not published: the publisher was closed (${why})`;
      }
      if (Date.now() + delay > deadline) {
        return `${out.name} could not be published within ${Math.round(this.retryMs / 1000)} s (${why})`;
      }
      this.log.warning(`RunSaga run ${this.runId}: publishing ${out.name} failed (${why}); connecting again in ${(delay / 1000).toFixed(1)} s`);
      await sleep(delay);
      delay = Math.min(delay * 2, 5_000);
    }
  }

  /** Runs `work`, failing with DeadlineExceeded at `deadline` (a broker that accepts the message but never confirms). */
  private async withDeadline<T>(deadline: number, work: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineExceeded()), Math.max(0, deadline - Date.now()));
    });
    const running = work();
    running.catch(() => undefined); // settled after the deadline: nobody listens any more
    try {
      return await Promise.race([running, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Publishes with mandatory and persistent; resolves once confirmed: true when RabbitMQ returned it (no queue). */
  private publishConfirmed(channel: amqp.ConfirmChannel, exchange: string, body: Buffer, messageId: string): Promise<boolean> {
    this.returned.delete(messageId);
    return new Promise<boolean>((resolve, reject) => {
      const options: amqp.Options.Publish = {
        contentType: ENVELOPE_CONTENT_TYPE,
        persistent: true,
        mandatory: true,
        messageId,
      };
      try {
        // mandatory: a message that no queue receives comes back (basic.return, before its confirm) instead of
        // vanishing.
        channel.publish(exchange, "", body, options, (error) => {
          if (error) {
            reject(this.channelError ?? this.connectionError ?? error);
          } else {
            resolve(this.returned.delete(messageId));
          }
        });
      } catch (error) {
        reject(error);
      }
    });
  }

  private async ensureChannel(): Promise<amqp.ConfirmChannel> {
    if (this.channel !== undefined && this.channelOpen) {
      return this.channel;
    }
    await this.closeConnection();
    const epoch = this.epoch;
    this.channelError = undefined;
    this.connectionError = undefined;
    let connection: amqp.ChannelModel | undefined;
    let lastError: unknown;
    for (const url of this.urls) {
      try {
        connection = await amqp.connect(url, {
          timeout: CONNECT_TIMEOUT_MS,
          clientProperties: { connection_name: this.connectionName },
        });
        break;
      } catch (error) {
        const text = describe(error);
        if (/Handshake terminated by server: 403|ACCESS[-_]REFUSED/.test(text)) {
          throw new GiveUp(`RabbitMQ refused the login (${text}): check the user and password in RUNSAGA_AMQP_URL ` +
            `(the scraper user, docs/wire-format.md section 0); tried ${redact(url)}`);
        }
        if (/Handshake terminated by server: 530|NOT[-_]ALLOWED/.test(text)) {
          throw new GiveUp(`RabbitMQ refused the connection (${text}): check the virtual host in RUNSAGA_AMQP_URL; ` +
            `tried ${redact(url)}`);
        }
        lastError = new Error(`${redact(url)}: ${text}`);
      }
    }
    if (connection === undefined) {
      throw lastError ?? new Error("no AMQP URI");
    }
    if (epoch !== this.epoch || this.stopped) {
      // Nobody reads this connection any more: an 'error' while it closes must not crash the process, and a close the
      // broker never answers must not keep the process alive.
      const abandoned = connection;
      abandoned.on("error", () => undefined);
      const destroy = setTimeout(() => destroySocket(abandoned, "an abandoned connection did not close"), CLOSE_TIMEOUT_MS);
      destroy.unref();
      abandoned.close().catch(() => undefined).finally(() => clearTimeout(destroy));
      throw new Error("the connection attempt was abandoned");
    }
    this.connection = connection;
    this.connections += 1;
    this.reconnects = this.connections - 1;
    // Without listeners an 'error' event would crash the process; the errors are read where a publish fails.
    connection.on("error", (error: AmqpError) => {
      this.connectionError = error;
    });
    connection.on("close", () => {
      if (this.connection === connection) {
        this.channelOpen = false;
      }
    });
    connection.on("blocked", (reason: string) => {
      this.log.warning(`RunSaga run ${this.runId}: RabbitMQ blocks publishing (${reason}); messages wait`);
    });
    const channel = await connection.createConfirmChannel();
    channel.on("error", (error: AmqpError) => {
      this.channelError = error;
    });
    channel.on("close", () => {
      if (this.channel === channel) {
        this.channelOpen = false;
      }
    });
    channel.on("return", (message: amqp.Message) => {
      const id = message.properties.messageId as string | undefined;
      if (id !== undefined) {
        this.returned.add(id);
      }
    });
    this.channel = channel;
    this.channelOpen = true;
    this.declared.clear();
    return channel;
  }

  /** "403 ACCESS_REFUSED …" when RabbitMQ closed the channel with an answer no retry changes. */
  private refusal(error: unknown): string | undefined {
    for (const candidate of [error as AmqpError, this.channelError]) {
      if (candidate !== undefined && typeof candidate.code === "number" && PERMANENT_REPLY_CODES.has(candidate.code)) {
        return describe(candidate);
      }
    }
    return undefined;
  }

  /** Why the connection or channel was lost, in the broker's or the socket's words. */
  private lost(error: unknown): string {
    const cause = this.channelError ?? this.connectionError;
    const text = describe(error);
    return cause !== undefined && describe(cause) !== text ? `${text}: ${describe(cause)}` : text;
  }

  private async closeConnection(): Promise<void> {
    this.epoch += 1;
    const connection = this.connection;
    this.connection = undefined;
    this.channel = undefined;
    this.channelOpen = false;
    if (connection === undefined) {
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const closed = connection.close().then(() => true, () => true);
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), CLOSE_TIMEOUT_MS);
    });
    const clean = await Promise.race([closed, expired]);
    clearTimeout(timer);
    if (!clean) {
      // RabbitMQ did not answer the close (a blocked or half-open connection): drop the socket.
      destroySocket(connection, "RabbitMQ did not answer the close");
    }
  }
}

class DeadlineExceeded extends Error {}

/** Drops an amqplib connection's socket (its internal stream): for a close the broker does not answer. */
function destroySocket(connection: unknown, why: string): void {
  (connection as { connection?: { stream?: { destroy(error?: Error): void } } }).connection?.stream?.destroy(new Error(why));
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    return error.message || error.name;
  }
  return String(error);
}
