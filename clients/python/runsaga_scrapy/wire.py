"""RunSaga's wire contract as a Python scraper sends it (docs/wire-format.md): exchange names, the envelope."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import uuid
from typing import Any

CONTRACTS_NAMESPACE = "RunSaga.Contracts"
ENVELOPE_CONTENT_TYPE = "application/vnd.masstransit+json"
SCRAPER_MESSAGES = ("RunRequested", "RunStarted", "ItemsScraped", "ScrapeCompleted", "ScrapeFailed")
PROCESS_TYPES = ("ingestion", "sync", "manual_reindex")

# A ScrapeFailed errorCode must match this; anything else is recorded by RunSaga as SCRAPER_ERROR.
_ERROR_CODE = re.compile(r"^[A-Z0-9_]{1,64}$")


def exchange_name(message_name: str) -> str:
    """MassTransit names a message type's exchange `Namespace:TypeName` (fanout, durable)."""
    return f"{CONTRACTS_NAMESPACE}:{message_name}"


def message_urn(message_name: str) -> str:
    return f"urn:message:{CONTRACTS_NAMESPACE}:{message_name}"


def error_code(reason: str) -> str:
    """A crawl's close reason ("shutdown", "closespider_errorcount") as a ScrapeFailed errorCode."""
    code = re.sub(r"[^A-Z0-9_]", "_", (reason or "").upper())[:64]
    return code if _ERROR_CODE.match(code) else "SCRAPE_FAILED"


def envelope(message_name: str, message: dict[str, Any], message_id: str, run_id: str) -> bytes:
    """MassTransit's JSON envelope around one message (content type application/vnd.masstransit+json)."""
    body = {
        "messageId": message_id,
        "correlationId": run_id,
        "conversationId": run_id,
        "sentTime": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "messageType": [message_urn(message_name)],
        "message": message,
        "host": {
            "machineName": socket.gethostname(),
            "processName": "scrapy",
            "processId": os.getpid(),
            "assembly": "runsaga-scrapy",
        },
    }
    # allow_nan=False: NaN and Infinity are not JSON, and RunSaga could not read the batch at all (BATCH_UNREADABLE);
    # the publisher gives such a message up with the reason instead. Other values JSON has no type for (datetime,
    # Decimal) are sent as their text.
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str).encode("utf-8")


def new_id() -> str:
    return str(uuid.uuid4())
