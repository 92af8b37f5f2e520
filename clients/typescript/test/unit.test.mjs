// Unit tests without a broker (npm test): mapping, canonical URLs (expected values from w3lib 2.1's canonicalize_url),
// settings, error codes, the envelope, and the Crawlee wrapper's interception with a fake publisher-free run.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ItemMapping, RunSagaConfigurationError, RunSagaItem, canonicalizeUrl, envelope, errorCode, parseUrls, redact,
  resolveSettings, withRunSaga,
} from "../dist/index.js";

test("items are mapped as runsaga_scrapy maps them", () => {
  const mapping = new ItemMapping({ keyField: "sku" });
  assert.deepEqual(mapping.toWire({ sku: "sku-0001", title: "T", url: "http://x/p", price: 10.25, description: "d" }), {
    key: "sku-0001", title: "T", url: "http://x/p", data: { price: 10.25, description: "d" },
  });
  // No key field: the canonical URL; no other field: no data; null fields left out; numbers as text.
  assert.deepEqual(new ItemMapping().toWire({ url: "HTTP://X.org/b?z=1&a=2#f", title: null }), {
    key: "http://x.org/b?a=2&z=1", url: "HTTP://X.org/b?z=1&a=2#f",
  });
  assert.deepEqual(new ItemMapping().toWire({ key: 42, title: 7, error: "HTTP 503" }), { key: "42", title: "7", error: "HTTP 503" });
  // keyField "error": the field is the key, not an error.
  assert.deepEqual(new ItemMapping({ keyField: "error" }).toWire({ error: "k" }), { key: "k" });
  // Neither key nor url: sent without a key (RunSaga rejects that item alone).
  assert.deepEqual(new ItemMapping().toWire({ a: 1 }), { data: { a: 1 } });
  assert.deepEqual(new ItemMapping().toWire(new RunSagaItem({ key: "k", data: { a: 1 }, title: null })), { key: "k", data: { a: 1 } });
  const mapped = new ItemMapping({ mapper: (item) => (item.skip ? null : { key: "m", data: { n: item.n }, title: undefined }) });
  assert.deepEqual(mapped.toWire({ n: 1 }), { key: "m", data: { n: 1 } });
  assert.deepEqual(mapped.toWire({ skip: true, key: "d" }), { key: "d", data: { skip: true } });
  assert.throws(() => new ItemMapping().toWire("text"), TypeError);
});

test("canonical URLs are w3lib's", () => {
  const cases = [
    ["HTTP://Example.COM:80/a b/%7e?b=2&a=1&c#frag", "http://example.com:80/a%20b/~?a=1&b=2&c="],
    ["http://www.example.com/do?c=3&b=5&b=2&a=50", "http://www.example.com/do?a=50&b=2&b=5&c=3"],
    ["http://www.example.com/r\u00e9sum\u00e9", "http://www.example.com/r%C3%A9sum%C3%A9"],
    ["http://example.com", "http://example.com/"],
    ["  http://example.com/path/../x/./y?q=a+b&q=a%20c&r=%2f#x  ", "http://example.com/path/../x/./y?q=a+b&q=a+c&r=%2F"],
    ["http://example.com/a%2fb%3Fc%2Fd?%61=%7E", "http://example.com/a%2Fb%3Fc%2Fd?a=~"],
    ["http://example.com/a;p=1/b;q=2?x=1;y=2&z", "http://example.com/a;p=1/b;q=2?x=1&y=2&z="],
    ["https://user:Pass@Host.example.COM:/p", "https://user:pass@host.example.com/p"],
    ["http://b\u00fccher.example/\u00e4?\u00fc=\u00df", "http://xn--bcher-kva.example/%C3%A4?%C3%BC=%C3%9F"],
    ["http://example.com/%zz%4?a=%zz", "http://example.com/%zz%4?a=%25zz"],
    ["http://example.com/a|b[c]?a=|&b=[x]", "http://example.com/a|b[c]?a=%7C&b=%5Bx%5D"],
    ["http://example.com/?b=&a", "http://example.com/?a=&b="],
    ["relative/path?b=1&a=2", "relative/path?a=2&b=1"],
    ["http://[::1]:8080/x?y=1", "http://[::1]:8080/x?y=1"],
  ];
  for (const [url, expected] of cases) {
    assert.equal(canonicalizeUrl(url), expected, url);
  }
});

test("error codes are the reason in capitals", () => {
  assert.equal(errorCode("stopped_half_way"), "STOPPED_HALF_WAY");
  assert.equal(errorCode("runsaga publish-failed!"), "RUNSAGA_PUBLISH_FAILED_");
  assert.equal(errorCode(""), "SCRAPE_FAILED");
  assert.equal(errorCode("x".repeat(80)).length, 64);
});

test("the envelope refuses NaN and sends a BigInt as text", () => {
  const body = JSON.parse(envelope("ItemsScraped", { n: 10n }, "m", "r").toString());
  assert.deepEqual(body.messageType, ["urn:message:RunSaga.Contracts:ItemsScraped"]);
  assert.equal(body.message.n, "10");
  assert.equal(body.correlationId, "r");
  assert.throws(() => envelope("ItemsScraped", { items: [{ data: { p: NaN } }] }, "m", "r"), RangeError);
});

test("settings: options, else RUNSAGA_* variables, checked before the crawl", () => {
  const env = { RUNSAGA_AMQP_URL: "amqp://u:p@h1/,amqp://u:p@h2/", RUNSAGA_BATCH_SIZE: "20", RUNSAGA_KEY_FIELD: "id" };
  const s = resolveSettings({ env, keyField: "sku" }, "shop");
  assert.equal(s.batchSize, 20);
  assert.equal(s.keyField, "sku");
  assert.equal(s.source, "shop");
  assert.equal(s.processType, "ingestion");
  assert.equal(s.maxPendingBatches, 4);
  assert.equal(s.retrySeconds, 120);
  assert.equal(resolveSettings({ env: {} }, "shop"), undefined); // no AMQP URI: RunSaga is off
  const bad = [
    { RUNSAGA_AMQP_URL: "http://h/" },
    { RUNSAGA_AMQP_URL: "amqp://h:notaport/" },
    { RUNSAGA_AMQP_URL: "amqp://h/", RUNSAGA_BATCH_SIZE: "10001" },
    { RUNSAGA_AMQP_URL: "amqp://h/", RUNSAGA_BATCH_SIZE: "ten" },
    { RUNSAGA_AMQP_URL: "amqp://h/", RUNSAGA_PROCESS_TYPE: "full" },
    { RUNSAGA_AMQP_URL: "amqp://h/", RUNSAGA_IDEMPOTENCY_KEY: "{source}:{week}" },
    { RUNSAGA_AMQP_URL: "amqp://h/", RUNSAGA_IDEMPOTENCY_KEY: "{source" },
  ];
  for (const badEnv of bad) {
    assert.throws(() => resolveSettings({ env: badEnv }, "shop"), RunSagaConfigurationError, JSON.stringify(badEnv));
  }
  assert.doesNotThrow(() => resolveSettings({ env: { RUNSAGA_AMQP_URL: "amqp://h/", RUNSAGA_IDEMPOTENCY_KEY: "{source}:{date}:{spider_version}:{{x}}" } }, "s"));
  assert.deepEqual(parseUrls(" amqp://a/ , ,amqps://b:5671/v "), ["amqp://a/", "amqps://b:5671/v"]);
  assert.equal(redact("amqp://user:secret@host:5672/"), "amqp://user:***@host:5672/");
});

test("withRunSaga checks the crawler and leaves it alone without an AMQP URI", () => {
  assert.throws(() => withRunSaga({ run() {} }, { env: {} }), TypeError);
  const crawler = { run: async () => "ran", pushData: async () => undefined, stop() {} };
  const run = crawler.run;
  const saga = withRunSaga(crawler, { env: {}, log: { info() {}, warning() {}, error() {} } });
  assert.equal(saga.enabled, false);
  assert.equal(crawler.run, run);
  const wrapped = { run: async () => "ran", pushData: async () => undefined, stop() {} };
  withRunSaga(wrapped, { env: { RUNSAGA_AMQP_URL: "amqp://h/" } });
  assert.notEqual(wrapped.run, run);
  assert.throws(() => withRunSaga(wrapped, { env: { RUNSAGA_AMQP_URL: "amqp://h/" } }), RunSagaConfigurationError);
});
