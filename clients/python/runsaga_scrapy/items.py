"""How a scraped item becomes a RunSaga item: `{key, title, url, data}` (docs/wire-format.md, ItemsScraped)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from itemadapter import ItemAdapter
from w3lib.url import canonicalize_url


@dataclasses.dataclass
class RunSagaItem:
    """An item already in RunSaga's shape. Yield it from a spider (or return it from RUNSAGA_ITEM_MAPPER) to
    choose each field yourself; `error` marks an item the spider could not get (it keeps its previous content)."""

    key: str
    title: str | None = None
    url: str | None = None
    data: dict[str, Any] | None = None
    error: str | None = None


Mapper = Callable[[Any, Any], "RunSagaItem | dict[str, Any] | None"]


class ItemMapping:
    """The default mapping: the key from `key_field` (RUNSAGA_KEY_FIELD, default "key"), else the item's canonical
    URL; title and url from their fields; every other field goes into `data`. A RunSagaItem passes as it is."""

    def __init__(self, key_field: str = "key", title_field: str = "title", url_field: str = "url",
                 mapper: Mapper | None = None) -> None:
        self.key_field = key_field
        self.title_field = title_field
        self.url_field = url_field
        self.mapper = mapper

    def to_wire(self, item: Any, spider: Any) -> dict[str, Any]:
        if self.mapper is not None:
            mapped = self.mapper(item, spider)
            if isinstance(mapped, dict):
                # Already RunSaga's shape ({key, title, url, data, error}): sent as it is.
                return _without_none(dict(mapped))
            if mapped is not None:
                item = mapped
        if isinstance(item, RunSagaItem):
            return _without_none(dataclasses.asdict(item))
        fields = ItemAdapter(item).asdict()
        url = fields.pop(self.url_field, None)
        title = fields.pop(self.title_field, None)
        key = fields.pop(self.key_field, None)
        if key is None and url:
            key = canonicalize_url(str(url))
        error = fields.pop("error", None) if self.key_field != "error" else None
        return _without_none({
            "key": None if key is None else str(key),
            "title": None if title is None else str(title),
            "url": None if url is None else str(url),
            "data": fields or None,
            "error": None if error is None else str(error),
        })


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}
