// How a pushed item becomes a RunSaga item: `{key, title, url, data, error}` (docs/wire-format.md, ItemsScraped). The
// twin of clients/python/runsaga_scrapy/items.py.

import { canonicalizeUrl } from "./url.js";

/** An item in RunSaga's shape, as it goes on the wire. */
export interface WireItem {
  key?: string;
  title?: string;
  url?: string;
  data?: Record<string, unknown>;
  error?: string;
}

// A symbol from the global registry, so that an item made by another copy of this package is recognised too.
const RUNSAGA_ITEM = Symbol.for("runsaga-crawlee.RunSagaItem");

/**
 * An item already in RunSaga's shape. Push it (`context.pushData(new RunSagaItem({...}))`) or return it from the
 * `itemMapper` to choose each field yourself; `error` marks an item the crawler could not get (it keeps its previous
 * content).
 */
export class RunSagaItem implements WireItem {
  key: string;
  title?: string;
  url?: string;
  data?: Record<string, unknown>;
  error?: string;

  constructor(fields: { key: string; title?: string | null; url?: string | null; data?: Record<string, unknown> | null; error?: string | null }) {
    this.key = fields.key;
    this.title = fields.title ?? undefined;
    this.url = fields.url ?? undefined;
    this.data = fields.data ?? undefined;
    this.error = fields.error ?? undefined;
    Object.defineProperty(this, RUNSAGA_ITEM, { value: true });
  }
}

/**
 * `(item, crawler)` → a RunSagaItem or an object in RunSaga's shape (`{key, title, url, data, error}`, sent as it is),
 * or null/undefined for the default mapping.
 */
export type ItemMapper = (item: unknown, crawler: unknown) => RunSagaItem | WireItem | Record<string, unknown> | null | undefined;

export interface ItemMappingOptions {
  keyField?: string;
  titleField?: string;
  urlField?: string;
  mapper?: ItemMapper;
}

const isNone = (value: unknown): value is null | undefined => value === null || value === undefined;

function text(value: unknown): string {
  if (typeof value === "object" && value !== null) {
    return JSON.stringify(value);
  }
  return String(value);
}

/** The object without its null and undefined fields (RunSaga reads a missing field as null). */
function withoutNone(fields: Record<string, unknown>): WireItem {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (!isNone(value)) {
      out[name] = value;
    }
  }
  return out as WireItem;
}

function pop(fields: Record<string, unknown>, name: string): unknown {
  if (!Object.prototype.hasOwnProperty.call(fields, name)) {
    return undefined;
  }
  const value = fields[name];
  delete fields[name];
  return value;
}

/**
 * The default mapping: the key from `keyField` (RUNSAGA_KEY_FIELD, default "key"), else the item's canonical URL; title
 * and url from their fields; a field `error` marks the item as not got; every other field goes into `data`. A
 * RunSagaItem passes as it is.
 */
export class ItemMapping {
  readonly keyField: string;
  readonly titleField: string;
  readonly urlField: string;
  readonly mapper?: ItemMapper;

  constructor(options: ItemMappingOptions = {}) {
    this.keyField = options.keyField ?? "key";
    this.titleField = options.titleField ?? "title";
    this.urlField = options.urlField ?? "url";
    this.mapper = options.mapper;
  }

  toWire(item: unknown, crawler?: unknown): WireItem {
    if (this.mapper !== undefined) {
      const mapped = this.mapper(item, crawler);
      if (!isNone(mapped)) {
        if (typeof mapped !== "object") {
          throw new TypeError(`the RunSaga item mapper returned a ${typeof mapped}; return an object in RunSaga's shape, a RunSagaItem, or null`);
        }
        // Already RunSaga's shape ({key, title, url, data, error}): sent as it is.
        return withoutNone({ ...(mapped as Record<string, unknown>) });
      }
    }
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      throw new TypeError(`RunSaga maps objects only, not ${Array.isArray(item) ? "an array" : String(item === null ? "null" : typeof item)}`);
    }
    if ((item as Record<symbol, unknown>)[RUNSAGA_ITEM] === true) {
      const { key, title, url, data, error } = item as RunSagaItem;
      return withoutNone({ key, title, url, data, error });
    }
    const fields: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(item)) {
      if (value !== undefined) {
        fields[name] = value;
      }
    }
    const url = pop(fields, this.urlField);
    const title = pop(fields, this.titleField);
    let key = pop(fields, this.keyField);
    if (isNone(key) && Boolean(url)) {
      key = canonicalizeUrl(text(url));
    }
    const error = this.keyField !== "error" ? pop(fields, "error") : undefined;
    return withoutNone({
      key: isNone(key) ? undefined : text(key),
      title: isNone(title) ? undefined : text(title),
      url: isNone(url) ? undefined : text(url),
      data: Object.keys(fields).length > 0 ? fields : undefined,
      error: isNone(error) ? undefined : text(error),
    });
  }
}
