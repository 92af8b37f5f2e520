"""RunSaga for Scrapy: every crawl becomes a RunSaga run (docs/scrapers.md)."""

from .extension import RunSagaExtension, RunSagaPipeline
from .items import ItemMapping, RunSagaItem

__all__ = ["RunSagaExtension", "RunSagaPipeline", "RunSagaItem", "ItemMapping"]
