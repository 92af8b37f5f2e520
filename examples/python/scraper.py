#!/usr/bin/env python3
"""Example RunSaga scraper: publishes one whole run to RabbitMQ.

RunRequested, RunStarted, ceil(items / batch-size) ItemsScraped batches, then ScrapeCompleted
{totalItems, totalBatches} (or ScrapeFailed with --fail). Every message is MassTransit's JSON envelope
(content type application/vnd.masstransit+json) unless --plain-json is given. The wire contract is
docs/wire-format.md.

Needs pika 1.x (Debian: apt-get install python3-pika; that installs it for /usr/bin/python3).

The last line on stdout is `run_id=<uuid>`; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import socket
import sys
import urllib.parse
import uuid
from typing import Any, Callable

try:
    import pika
    import pika.exceptions
except ImportError:  # pragma: no cover - depends on the machine
    sys.stderr.write(
        "scraper.py: the 'pika' module is missing. On Debian: apt-get install python3-pika and run this "
        "script with /usr/bin/python3 (or: pip install pika).\n"
    )
    sys.exit(2)

CONTRACTS_NAMESPACE = "RunSaga.Contracts"
ENVELOPE_CONTENT_TYPE = "application/vnd.masstransit+json"
PLAIN_JSON_CONTENT_TYPE = "application/json"
PROCESS_TYPES = ("ingestion", "sync", "manual_reindex")

_TAGS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa")
_WORDS = ("solar", "river", "granite", "maple", "harbor", "copper", "meadow", "signal", "lantern", "orbit",
          "cedar", "quartz", "willow", "ember", "summit", "tide")


def exchange_name(message_name: str) -> str:
    """MassTransit names a message type's exchange `Namespace:TypeName`."""
    return f"{CONTRACTS_NAMESPACE}:{message_name}"


def message_urn(message_name: str) -> str:
    return f"urn:message:{CONTRACTS_NAMESPACE}:{message_name}"


def utc_now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _price(cents: int) -> int | float:
    # 12.0 would be written "12.0" by Python and "12" by JavaScript; an int keeps both examples byte-identical.
    return cents // 100 if cents % 100 == 0 else cents / 100


def make_item(seed: int, index: int, run_id: str, change_every: int | None, error_every: int | None) -> dict[str, Any]:
    """Item number `index` (1-based). Its content depends only on (seed, index), so two runs with the same
    seed carry the same items. The TypeScript example derives the same content the same way (SHA-256 of
    "<seed>:<index>")."""
    h = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    title = f"{_WORDS[h[0] % len(_WORDS)].capitalize()} {_WORDS[h[1] % len(_WORDS)]} #{index}"
    if change_every and index % change_every == 0:
        # Different in every run, so each run with --change-every reports these as updated.
        title = f"{title} (rev {run_id[:8]})"
    item: dict[str, Any] = {
        "key": f"item-{index:05d}",
        "title": title,
        "url": f"https://example.test/items/{index}",
        "data": {
            "price": _price(int.from_bytes(h[2:6], "big") % 100_000),
            "currency": "EUR",
            "rank": int.from_bytes(h[6:8], "big") % 1000,
            "tags": [_TAGS[b % len(_TAGS)] for b in h[8:11]],
            "inStock": h[11] % 2 == 0,
            "summary": " ".join(_WORDS[b % len(_WORDS)] for b in h[12:18]),
        },
    }
    if error_every and index % error_every == 0:
        # An item with `error` keeps the item's previous content and marks it status=error.
        item["error"] = "simulated fetch error (--error-every)"
        del item["data"]
    return item


class Publisher:
    """Publishes RunSaga contracts on one confirmed channel."""

    def __init__(self, amqp_url: str, plain_json: bool, log: Callable[[str], None]) -> None:
        self._plain_json = plain_json
        self._log = log
        self._declared: set[str] = set()
        self.unroutable: dict[str, int] = {}
        self.published = 0
        # Several URIs, separated by commas: the nodes of a RabbitMQ cluster. pika tries them in order.
        nodes = []
        for url in (u.strip() for u in amqp_url.split(",") if u.strip()):
            params = pika.URLParameters(url)
            params.connection_attempts = 3
            params.retry_delay = 1
            params.socket_timeout = 5
            params.client_properties = {"connection_name": "runsaga-example-python"}
            nodes.append(params)
        self._connection = pika.BlockingConnection(nodes)
        self._channel = self._connection.channel()
        # Publisher confirms: basic_publish returns only once the broker has taken responsibility for the
        # message (and raises if it refused it), so "published" here means durably accepted.
        self._channel.confirm_delivery()

    def close(self) -> None:
        if self._connection.is_open:
            self._connection.close()

    def _declare(self, exchange: str) -> None:
        # A publish to an exchange that does not exist yet is silently dropped by RabbitMQ (the broker
        # closes the channel asynchronously with 404 NOT_FOUND). The exchanges only exist once RunSaga
        # has started at least once, so publishers declare them themselves. Declaring is idempotent as
        # long as the flags are identical to MassTransit's: fanout, durable, not auto-delete, no arguments.
        if exchange in self._declared:
            return
        self._channel.exchange_declare(exchange=exchange, exchange_type="fanout", durable=True, auto_delete=False)
        self._declared.add(exchange)

    def publish(self, message_name: str, message: dict[str, Any], run_id: str, conversation_id: str) -> None:
        exchange = exchange_name(message_name)
        self._declare(exchange)
        message_id = str(uuid.uuid4())
        if self._plain_json:
            body, properties = self._plain_json_body(message_name, message, message_id, run_id)
        else:
            body, properties = self._envelope_body(message_name, message, message_id, run_id, conversation_id)
        try:
            # mandatory=True: the broker hands back a message that no queue receives, so we can say so
            # (usually: RunSaga has never been started against this broker, so no queue is bound yet).
            self._channel.basic_publish(exchange=exchange, routing_key="", body=body, properties=properties,
                                        mandatory=True)
        except pika.exceptions.UnroutableError:
            count = self.unroutable.get(exchange, 0)
            if count == 0:
                sys.stderr.write(
                    f"scraper.py: WARNING: no queue is bound to exchange '{exchange}': the message was accepted "
                    "by RabbitMQ but dropped. Start RunSaga once (scripts/up) so its queues exist.\n"
                )
            self.unroutable[exchange] = count + 1
        self.published += 1

    @staticmethod
    def _envelope_body(message_name: str, message: dict[str, Any], message_id: str, run_id: str,
                       conversation_id: str) -> tuple[bytes, pika.BasicProperties]:
        envelope = {
            "messageId": message_id,
            "correlationId": run_id,
            "conversationId": conversation_id,
            "sentTime": utc_now_iso(),
            "messageType": [message_urn(message_name)],
            "message": message,
            "host": {
                "machineName": socket.gethostname(),
                "processName": "scraper.py",
                "processId": os.getpid(),
                "assembly": "runsaga-example-python",
            },
        }
        properties = pika.BasicProperties(
            content_type=ENVELOPE_CONTENT_TYPE,
            delivery_mode=2,  # persistent
            message_id=message_id,
        )
        return json.dumps(envelope, separators=(",", ":")).encode("utf-8"), properties

    @staticmethod
    def _plain_json_body(message_name: str, message: dict[str, Any], message_id: str,
                         run_id: str) -> tuple[bytes, pika.BasicProperties]:
        """The plain-JSON form: the body is the message itself and its type travels in the MT-MessageType
        header. Without that header RunSaga moves the message to the endpoint's _error queue."""
        properties = pika.BasicProperties(
            content_type=PLAIN_JSON_CONTENT_TYPE,
            delivery_mode=2,
            message_id=message_id,
            correlation_id=run_id,
            headers={"MT-MessageType": message_urn(message_name)},
        )
        return json.dumps(message, separators=(",", ":")).encode("utf-8"), properties


def redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Publish one example scraper run to RunSaga over RabbitMQ.")
    p.add_argument("--amqp", default=os.environ.get("RABBITMQ_URL"),
                   help="AMQP URI with the scraper user's credentials (default: $RABBITMQ_URL; scripts/up writes it "
                        "to .run/scraper.env); for a cluster, one URI per node separated by commas, tried in order")
    p.add_argument("--source", default="demo", help="what is scraped; runs and retention are per source (default: demo)")
    p.add_argument("--items", type=int, default=250, help="number of items (default: 250)")
    p.add_argument("--batch-size", type=int, default=100, help="items per ItemsScraped batch (default: 100)")
    p.add_argument("--run-id", default=None, help="run id (default: a new uuid4)")
    p.add_argument("--process-type", default="ingestion", choices=PROCESS_TYPES, help="default: ingestion")
    p.add_argument("--idempotency-key", default=None, help="e.g. source:inputVersion:pipelineVersion")
    p.add_argument("--seed", type=int, default=1, help="item content is derived from seed+index (default: 1)")
    p.add_argument("--change-every", type=int, default=None, metavar="K",
                   help="every K-th item gets a title that differs per run (demo of updates)")
    p.add_argument("--error-every", type=int, default=None, metavar="K",
                   help="every K-th item is sent with `error` set instead of data")
    p.add_argument("--fail", action="store_true", help="publish ScrapeFailed instead of ScrapeCompleted")
    p.add_argument("--skip-start", action="store_true",
                   help="publish neither RunRequested nor RunStarted (a run nobody identified)")
    p.add_argument("--skip-request", action="store_true", help="publish RunStarted but not RunRequested")
    p.add_argument("--complete-first", action="store_true",
                   help="publish ScrapeCompleted (or ScrapeFailed) before the batches")
    p.add_argument("--duplicate-batch", action="store_true", help="publish the first batch twice")
    p.add_argument("--plain-json", action="store_true",
                   help="send every message as plain JSON (application/json + MT-MessageType header)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = p.parse_args(argv)
    if args.items < 0:
        p.error("--items must be >= 0")
    if args.batch_size < 1:
        p.error("--batch-size must be >= 1")
    for flag in ("change_every", "error_every"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be >= 1")
    if args.run_id is None:
        args.run_id = str(uuid.uuid4())
    else:
        try:
            args.run_id = str(uuid.UUID(args.run_id))  # RunSaga reads Guids in the dashed form only
        except ValueError:
            p.error(f"--run-id {args.run_id!r} is not a UUID")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_id = args.run_id
    if not args.amqp:
        sys.stderr.write("scraper.py: no broker: set RABBITMQ_URL (or --amqp) to the AMQP URI of your scraper user, "
                         "e.g. amqp://runsaga-scraper:<password>@localhost:5672/ (scripts/up writes it to .run/scraper.env)\n")
        return 2

    def log(text: str) -> None:
        if not args.quiet:
            sys.stderr.write(f"scraper.py: {text}\n")

    try:
        publisher = Publisher(args.amqp, args.plain_json, log)
    except pika.exceptions.AMQPError as e:
        sys.stderr.write(
            f"scraper.py: cannot connect to RabbitMQ at {redact(args.amqp)}: {e!r}\n"
            "Is RabbitMQ running and are the credentials right? (scripts/up starts it; --amqp or "
            "RABBITMQ_URL chooses the broker.)\n"
        )
        return 2

    conversation_id = str(uuid.uuid4())
    batches: list[tuple[str, list[dict[str, Any]]]] = []
    for number, start in enumerate(range(0, args.items, args.batch_size), start=1):
        end = min(start + args.batch_size, args.items)
        items = [make_item(args.seed, i, run_id, args.change_every, args.error_every) for i in range(start + 1, end + 1)]
        batches.append((f"b{number:04d}", items))

    def send(name: str, message: dict[str, Any]) -> None:
        publisher.publish(name, message, run_id, conversation_id)

    def send_batch(batch_id: str, items: list[dict[str, Any]]) -> None:
        send("ItemsScraped", {"runId": run_id, "batchId": batch_id, "items": items})
        log(f"ItemsScraped {batch_id} ({len(items)} items)")

    def send_end() -> None:
        if args.fail:
            send("ScrapeFailed", {
                "runId": run_id,
                "errorCode": "SCRAPER_FAILED",
                "errorMessage": "the example scraper was asked to fail (--fail)",
                "errorDetail": f"items={args.items} batches={len(batches)} seed={args.seed}",
            })
            log("ScrapeFailed")
        else:
            send("ScrapeCompleted", {"runId": run_id, "totalItems": args.items, "totalBatches": len(batches)})
            log(f"ScrapeCompleted (totalItems={args.items}, totalBatches={len(batches)})")

    try:
        log(f"run {run_id}: source={args.source} processType={args.process_type} items={args.items} "
            f"batches={len(batches)} broker={redact(args.amqp)}{' (plain JSON)' if args.plain_json else ''}")
        if not args.skip_start:
            if not args.skip_request:
                requested: dict[str, Any] = {
                    "runId": run_id,
                    "source": args.source,
                    "processType": args.process_type,
                    "requestedBy": f"scraper.py@{socket.gethostname()}",
                    "metadata": {"example": "python", "seed": str(args.seed)},
                }
                if args.idempotency_key:
                    requested["idempotencyKey"] = args.idempotency_key
                send("RunRequested", requested)
                log("RunRequested")
            started = {"runId": run_id, "source": args.source, "processType": args.process_type}
            if args.idempotency_key:
                # The key on RunStarted too: a duplicate run id then never runs, whichever message arrives first.
                started["idempotencyKey"] = args.idempotency_key
            send("RunStarted", started)
            log("RunStarted")
        if args.complete_first:
            send_end()
        for index, (batch_id, items) in enumerate(batches):
            send_batch(batch_id, items)
            if index == 0 and args.duplicate_batch:
                send_batch(batch_id, items)
        if not args.complete_first:
            send_end()
    except pika.exceptions.AMQPError as e:
        sys.stderr.write(f"scraper.py: publishing failed after {publisher.published} messages: {e!r}\n")
        return 3
    finally:
        publisher.close()

    dropped = sum(publisher.unroutable.values())
    if dropped:
        sys.stderr.write(f"scraper.py: WARNING: {dropped} of {publisher.published} messages reached no queue\n")
    log(f"published {publisher.published} messages")
    print(f"run_id={run_id}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
