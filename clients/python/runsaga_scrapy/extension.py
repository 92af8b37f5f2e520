"""The Scrapy side: a crawl is a RunSaga run.

- `spider_opened`: RunRequested and RunStarted (the run id is logged and kept in the crawl's stats as
  `runsaga/run_id`);
- each item (RunSagaPipeline): mapped to `{key, title, url, data}` and buffered; every RUNSAGA_BATCH_SIZE items
  become one ItemsScraped batch, published with confirms by the publishing thread;
- `spider_closed`: the last batch, then ScrapeCompleted {totalItems, totalBatches} when the crawl finished and every
  batch was confirmed, else ScrapeFailed with the close reason as its code.

Scrapy's reactor never waits on RabbitMQ: it hands messages to the thread. When more than RUNSAGA_MAX_PENDING_BATCHES
messages are unconfirmed (the broker is slow or away), the pipeline answers each item with a Deferred that fires once
they are confirmed. The response that produced the item stays "in progress" meanwhile, and Scrapy takes no new
responses into processing once those in progress exceed SCRAPER_SLOT_MAX_ACTIVE_SIZE (5 MB), so the crawl slows
down with the broker. A message given up closes the crawl (reason runsaga_publish_failed).
"""

from __future__ import annotations

import logging
import string
from typing import Any

import datetime as dt

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.misc import load_object
from twisted.internet import defer

from . import wire
from .items import ItemMapping
from .publisher import RunPublisher, parse_urls, redact

# Template fields RUNSAGA_IDEMPOTENCY_KEY may use.
_KEY_FIELDS = ("source", "spider", "spider_version", "date", "process_type")


def _reactor():
    # Imported when first needed, never at import time: importing twisted.internet.reactor installs the default
    # reactor, and a project that chose the asyncio reactor would then fail to start.
    from twisted.internet import reactor

    return reactor

logger = logging.getLogger("runsaga_scrapy")


class RunSagaExtension:
    """Enabled by EXTENSIONS = {"runsaga_scrapy.RunSagaExtension": 500} and RUNSAGA_AMQP_URL."""

    def __init__(self, crawler) -> None:
        settings = crawler.settings
        self.amqp_url = settings.get("RUNSAGA_AMQP_URL")
        if not self.amqp_url:
            raise NotConfigured("RUNSAGA_AMQP_URL is not set: RunSaga is off for this crawl")
        self.crawler = crawler
        self.source_setting = settings.get("RUNSAGA_SOURCE")
        self.process_type = settings.get("RUNSAGA_PROCESS_TYPE", "ingestion")
        if self.process_type not in wire.PROCESS_TYPES:
            raise ValueError(f"RUNSAGA_PROCESS_TYPE must be one of {', '.join(wire.PROCESS_TYPES)}, not {self.process_type!r}")
        self.batch_size = settings.getint("RUNSAGA_BATCH_SIZE", 500)
        if not 1 <= self.batch_size <= 10_000:
            raise ValueError("RUNSAGA_BATCH_SIZE must be between 1 and 10000 (RunSaga refuses larger batches)")
        self.max_pending = settings.getint("RUNSAGA_MAX_PENDING_BATCHES", 4)
        self.retry_seconds = settings.getfloat("RUNSAGA_RETRY_SECONDS", 120.0)
        parse_urls(self.amqp_url)
        self.idempotency_key = settings.get("RUNSAGA_IDEMPOTENCY_KEY")
        if self.idempotency_key:
            names = {name for _, name, _, _ in string.Formatter().parse(self.idempotency_key) if name}
            if names - set(_KEY_FIELDS):
                raise ValueError(f"RUNSAGA_IDEMPOTENCY_KEY names unknown fields {sorted(names - set(_KEY_FIELDS))}; "
                                 f"known: {', '.join(_KEY_FIELDS)}")
        self.spider_version = settings.get("RUNSAGA_SPIDER_VERSION", "")
        mapper = settings.get("RUNSAGA_ITEM_MAPPER")
        self.mapping = ItemMapping(
            key_field=settings.get("RUNSAGA_KEY_FIELD", "key"),
            title_field=settings.get("RUNSAGA_TITLE_FIELD", "title"),
            url_field=settings.get("RUNSAGA_URL_FIELD", "url"),
            mapper=load_object(mapper) if mapper else None,
        )
        self.run_id: str | None = None
        self.spider = None
        self.closing_on_failure = False
        self.source: str | None = None
        self.publisher: RunPublisher | None = None
        self.buffer: list[dict[str, Any]] = []
        self.items = 0
        self.batches = 0
        self.confirmed_batches = 0
        crawler.runsaga = self
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    # --- the run -------------------------------------------------------------------------------------------

    def spider_opened(self, spider) -> None:
        self.spider = spider
        self.source = self.source_setting or spider.name
        self.run_id = wire.new_id()
        key = self._idempotency_key(spider)
        stats = self.crawler.stats
        stats.set_value("runsaga/run_id", self.run_id)
        stats.set_value("runsaga/source", self.source)
        self.publisher = RunPublisher(self.amqp_url, self.run_id, self.retry_seconds, f"runsaga-scrapy-{spider.name}")
        self.publisher.start()
        logger.info("RunSaga run %s started for source %s (%s) on %s", self.run_id, self.source,
                    self.process_type, ", ".join(redact(u) for u in self.amqp_url.split(",")),
                    extra={"spider": spider})
        request = {"runId": self.run_id, "source": self.source, "processType": self.process_type,
                   "requestedBy": f"scrapy:{spider.name}"}
        started = {"runId": self.run_id, "source": self.source, "processType": self.process_type}
        if key:
            request["idempotencyKey"] = started["idempotencyKey"] = key
        if self.spider_version:
            request["pipelineVersion"] = self.spider_version
        self.publisher.submit("RunRequested", request, self._done("RunRequested"))
        self.publisher.submit("RunStarted", started, self._done("RunStarted"))

    def add(self, item: dict[str, Any]):
        """Buffers one mapped item; returns a Deferred while too many batches are unconfirmed, else None."""
        self.buffer.append(item)
        self.items += 1
        if len(self.buffer) >= self.batch_size:
            self._send_batch()
        publisher = self.publisher
        if publisher is not None and publisher.in_flight > self.max_pending:
            self.crawler.stats.inc_value("runsaga/backpressure_waits")
            waiting = defer.Deferred()
            publisher.when_at_most(self.max_pending, lambda: _reactor().callFromThread(waiting.callback, None))
            return waiting
        return None

    def spider_closed(self, spider, reason: str):
        if self.publisher is None:
            return None
        if self.buffer:
            self._send_batch()
        ended = defer.Deferred()
        publisher = self.publisher
        reactor = _reactor()
        # A broker that takes the messages but never confirms them (a quorum queue without its majority) would hold the
        # crawl open for ever: after this long it ends without its last word, and the run stays open until RunSaga's
        # RUN_TIMEOUT fails it. It is never promoted.
        limit = 2 * self.retry_seconds + 60

        def give_up() -> None:
            if not ended.called:
                logger.error("RunSaga run %s: RabbitMQ has not confirmed the run's messages within %.0f s; the crawl ends "
                             "without ScrapeCompleted. The run stays open until RunSaga's RUN_TIMEOUT fails it.",
                             self.run_id, limit)
                self.crawler.stats.set_value("runsaga/outcome", "failed")
                ended.callback(None)

        watchdog = reactor.callLater(limit, give_up)
        ended.addBoth(lambda result: (watchdog.cancel() if watchdog.active() else None, result)[1])
        # Once every batch is confirmed (or given up), the run's last word, then the thread stops.
        publisher.when_at_most(0, lambda: reactor.callFromThread(self._finish, spider, reason, ended))
        return ended

    def _finish(self, spider, reason: str, ended: defer.Deferred) -> None:
        publisher = self.publisher
        stats = self.crawler.stats
        if reason == "finished" and publisher.failure is None:
            name, message = "ScrapeCompleted", {"runId": self.run_id, "totalItems": self.items, "totalBatches": self.batches}
        else:
            code = wire.error_code(reason) if reason != "finished" else "RUNSAGA_PUBLISH_FAILED"
            why = (f"the crawl closed with reason {reason!r}" if reason != "finished"
                   else f"a message could not be published: {publisher.failure}")
            name, message = "ScrapeFailed", {
                "runId": self.run_id, "errorCode": code, "errorMessage": why[:2000],
                "errorDetail": f"{self.items} items in {self.batches} batches, {self.confirmed_batches} confirmed"}

        def last(why: str | None) -> None:
            outcome = "completed" if name == "ScrapeCompleted" and why is None else "failed"
            if why is not None:
                logger.error("RunSaga run %s: %s could not be published (%s). The run stays open until RunSaga's "
                             "RUN_TIMEOUT fails it; no item of it is promoted.", self.run_id, name, why)
            publisher.stop()
            _reactor().callFromThread(self._ended, spider, outcome, name, ended)

        publisher.submit(name, message, last)
        stats.set_value("runsaga/items", self.items)
        stats.set_value("runsaga/batches", self.batches)

    def _ended(self, spider, outcome: str, name: str, ended: defer.Deferred) -> None:
        if ended.called:
            return
        self.crawler.stats.set_value("runsaga/outcome", outcome)
        self.crawler.stats.set_value("runsaga/reconnects", self.publisher.reconnects)
        logger.info("RunSaga run %s: %s sent (%s items in %s batches); outcome %s", self.run_id, name, self.items,
                    self.batches, outcome, extra={"spider": spider})
        ended.callback(None)

    # --- helpers -------------------------------------------------------------------------------------------

    def _send_batch(self) -> None:
        self.batches += 1
        batch = {"runId": self.run_id, "batchId": f"b{self.batches:05d}", "items": self.buffer}
        self.buffer = []
        self.publisher.submit("ItemsScraped", batch, self._done("ItemsScraped", batch["batchId"]))

    def _done(self, name: str, batch_id: str | None = None):
        def done(why: str | None) -> None:
            if why is None:
                if batch_id is not None:
                    self.confirmed_batches += 1
                return
            logger.error("RunSaga run %s: %s%s was not published: %s", self.run_id, name,
                         f" {batch_id}" if batch_id else "", why)
            # The run can no longer complete: stop crawling for it (the close sends ScrapeFailed, if it still can).
            _reactor().callFromThread(self._close_on_failure)
        return done

    def _close_on_failure(self) -> None:
        if self.closing_on_failure or self.spider is None:
            return
        self.closing_on_failure = True
        engine = self.crawler.engine
        if engine is not None and getattr(engine, "slot", None) is not None and engine.slot.closing is None:
            engine.close_spider(self.spider, "runsaga_publish_failed")

    def _idempotency_key(self, spider) -> str | None:
        if not self.idempotency_key:
            return None
        values = {"source": self.source, "spider": spider.name, "spider_version": self.spider_version,
                  "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"), "process_type": self.process_type}
        return self.idempotency_key.format(**values)


class RunSagaPipeline:
    """Enabled by ITEM_PIPELINES = {"runsaga_scrapy.RunSagaPipeline": 900}, with RunSagaExtension."""

    def __init__(self, extension: RunSagaExtension) -> None:
        self.extension = extension

    @classmethod
    def from_crawler(cls, crawler):
        extension = getattr(crawler, "runsaga", None)
        if extension is None:
            raise NotConfigured("RunSagaPipeline needs RunSagaExtension in EXTENSIONS and RUNSAGA_AMQP_URL set")
        return cls(extension)

    def process_item(self, item, spider):
        waiting = self.extension.add(self.extension.mapping.to_wire(item, spider))
        if waiting is None:
            return item
        waiting.addCallback(lambda _: item)
        return waiting
