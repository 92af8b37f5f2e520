"""The publishing thread. pika's connections are not thread-safe, so one thread owns the connection and publishes
every message of the run, in order, each with publisher confirms; Scrapy's reactor only hands it work."""

from __future__ import annotations

import logging
import queue
import threading
import time
import urllib.parse
from typing import Callable

import pika
import pika.exceptions

from . import wire

logger = logging.getLogger("runsaga_scrapy")

# What a lost or refused connection raises; the message is published again on a new connection.
_CONNECTION_ERRORS = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.AMQPChannelError,
    pika.exceptions.StreamLostError,
    pika.exceptions.ConnectionWrongStateError,
    pika.exceptions.ChannelWrongStateError,
    ConnectionError,
    OSError,
)

Done = Callable[[str | None], None]
"""Called in the publishing thread once a message is confirmed (None) or given up (why)."""


class Outgoing:
    """One message of the run. Its id is fixed when it is made, so a message published again after a lost
    connection carries the same id (and RunSaga stages a repeated batch once)."""

    def __init__(self, name: str, message: dict, done: Done) -> None:
        self.name = name
        self.message = message
        self.message_id = wire.new_id()
        self.done = done


_STOP = object()


def redact(url: str) -> str:
    """The URI without its password, for logs (also when the URI itself is malformed)."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    credentials, _, address = parts.netloc.rpartition("@")
    user = credentials.split(":", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{address}"))


def parse_urls(amqp_urls: str) -> list[str]:
    """The AMQP URIs of RUNSAGA_AMQP_URL (comma-separated), each checked now: a bad one is a configuration error that
    must stop the crawl before it starts, not a message given up later."""
    urls = [u.strip() for u in (amqp_urls or "").split(",") if u.strip()]
    if not urls:
        raise ValueError("RUNSAGA_AMQP_URL is empty: give the AMQP URI of RunSaga's broker (the scraper user)")
    for url in urls:
        try:
            pika.URLParameters(url)
        except Exception as ex:  # noqa: BLE001 - pika raises several kinds for a malformed URI
            raise ValueError(f"RUNSAGA_AMQP_URL: {redact(url)} is not a valid AMQP URI ({ex})") from ex
    return urls


# Broker answers that no retry will change: wrong credentials, a permission refused (403), a message or exchange the
# broker refuses (406: wrong exchange flags, a message over its size limit). The message is given up at once.
_PERMANENT_REPLY_CODES = (403, 406)


class RunPublisher(threading.Thread):
    """Publishes a run's messages in order on one confirmed channel.

    A message counts as published only once RabbitMQ has confirmed it. A lost connection is opened again (every
    node of `amqp_urls` in turn) and the message published again, for up to `retry_seconds`; after that it is
    given up, and so is everything behind it (the run cannot complete with a batch missing).
    """

    def __init__(self, amqp_urls: str, run_id: str, retry_seconds: float, connection_name: str) -> None:
        super().__init__(name=f"runsaga-publisher-{run_id[:8]}", daemon=True)
        self.run_id = run_id
        self._urls = parse_urls(amqp_urls)
        self._retry_seconds = retry_seconds
        self._connection_name = connection_name
        self._queue: queue.Queue = queue.Queue()
        self._connection: pika.BlockingConnection | None = None
        self._channel = None
        self._declared: set[str] = set()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiters: list[tuple[int, Callable[[], None]]] = []
        self.failure: str | None = None
        self._connections = 0
        self.reconnects = 0
        """Connections opened after the first (a lost one replaced)."""

    # --- called from Scrapy's thread -------------------------------------------------------------------------

    def submit(self, name: str, message: dict, done: Done) -> None:
        with self._lock:
            self._in_flight += 1
        self._queue.put(Outgoing(name, message, done))

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def when_at_most(self, count: int, callback: Callable[[], None]) -> None:
        """Calls `callback` (in the publishing thread, or at once) when at most `count` messages are unconfirmed."""
        with self._lock:
            if self._in_flight > count:
                self._waiters.append((count, callback))
                return
        callback()

    def stop(self) -> None:
        self._queue.put(_STOP)

    # --- the publishing thread -------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while True:
                try:
                    item = self._queue.get(timeout=1.0)
                except queue.Empty:
                    try:
                        self._keep_alive()
                    except Exception:  # noqa: BLE001 - a broken connection is opened again at the next publish
                        self._close()
                    continue
                if item is _STOP:
                    return
                self._publish(item)
        finally:
            self._close()

    def _publish(self, out: Outgoing) -> None:
        why: str | None
        if self.failure is not None and out.name != "ScrapeFailed":
            # Nothing after a lost message may reach RunSaga as if the run were whole; a ScrapeFailed still may.
            why = f"not published: an earlier message was given up ({self.failure})"
        else:
            try:
                why = self._publish_with_retry(out)
            except Exception as ex:  # noqa: BLE001 - whatever it was, the message is settled, or the crawl waits forever
                logger.exception("RunSaga run %s: publishing %s failed unexpectedly", self.run_id, out.name)
                why = f"{type(ex).__name__}: {ex}"
            if why is not None and self.failure is None:
                self.failure = why
        try:
            out.done(why)
        except Exception:  # noqa: BLE001
            logger.exception("RunSaga run %s: the callback of %s failed", self.run_id, out.name)
        finally:
            self._settled()

    def _publish_with_retry(self, out: Outgoing) -> str | None:
        deadline = time.monotonic() + self._retry_seconds
        delay = 0.5
        while True:
            try:
                channel = self._ensure_channel()
                exchange = wire.exchange_name(out.name)
                if exchange not in self._declared:
                    # Publishers declare the exchanges themselves, with MassTransit's flags: a message sent to an
                    # exchange that does not exist yet is dropped by RabbitMQ.
                    channel.exchange_declare(exchange=exchange, exchange_type="fanout", durable=True, auto_delete=False)
                    self._declared.add(exchange)
                properties = pika.BasicProperties(
                    content_type=wire.ENVELOPE_CONTENT_TYPE, delivery_mode=2, message_id=out.message_id)
                body = wire.envelope(out.name, out.message, out.message_id, self.run_id)
                # In confirm mode basic_publish returns once RabbitMQ has taken the message; mandatory=True makes a
                # message that no queue receives come back as UnroutableError instead of vanishing.
                channel.basic_publish(exchange=exchange, routing_key="", body=body, properties=properties, mandatory=True)
                return None
            except pika.exceptions.UnroutableError:
                return (f"{wire.exchange_name(out.name)} has no queue bound: RabbitMQ dropped the message. Start "
                        "RunSaga once against this broker (its queues bind the exchanges), then crawl again")
            except pika.exceptions.NackError:
                why = "RabbitMQ refused the message (nack)"
            except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.ProbableAccessDeniedError,
                    pika.exceptions.AuthenticationError) as ex:
                self._close()
                return (f"RabbitMQ refused the login ({type(ex).__name__}: {ex}): check the user and password in "
                        "RUNSAGA_AMQP_URL (the scraper user, docs/wire-format.md section 0)")
            except pika.exceptions.ChannelClosedByBroker as ex:
                if ex.reply_code not in _PERMANENT_REPLY_CODES:
                    why = f"{type(ex).__name__}: {ex}"
                else:
                    self._close()
                    return (f"RabbitMQ refused {out.name} ({ex.reply_code} {ex.reply_text}); publishing it again "
                            "would not help")
            except _CONNECTION_ERRORS as ex:
                why = f"{type(ex).__name__}: {ex}"
            self._close()
            if time.monotonic() + delay > deadline:
                return f"{out.name} could not be published within {self._retry_seconds:.0f} s ({why})"
            logger.warning("RunSaga run %s: publishing %s failed (%s); connecting again in %.1f s",
                           self.run_id, out.name, why, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _ensure_channel(self):
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self._close()
        nodes = []
        for url in self._urls:
            params = pika.URLParameters(url)
            params.connection_attempts = 1
            params.socket_timeout = 5
            params.blocked_connection_timeout = 60
            params.client_properties = {"connection_name": self._connection_name}
            nodes.append(params)
        self._connection = pika.BlockingConnection(nodes)
        self._connections += 1
        self.reconnects = self._connections - 1
        self._channel = self._connection.channel()
        self._channel.confirm_delivery()
        self._declared.clear()
        return self._channel

    def _keep_alive(self) -> None:
        # A BlockingConnection answers heartbeats only while it is called; an idle crawl would lose it otherwise.
        if self._connection is not None and self._connection.is_open:
            try:
                self._connection.process_data_events(0)
            except _CONNECTION_ERRORS:
                self._close()

    def _close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail in many ways
                pass

    def _settled(self) -> None:
        ready = []
        with self._lock:
            self._in_flight -= 1
            waiting = []
            for count, callback in self._waiters:
                if self._in_flight <= count:
                    ready.append(callback)
                else:
                    waiting.append((count, callback))
            self._waiters = waiting
        for callback in ready:
            callback()
