// canonicalizeUrl: w3lib.url.canonicalize_url (w3lib 2.1, the one Scrapy uses) ported, so that an item without a key
// gets the same key from the Crawlee adapter as from the Scrapy package: the scheme and host in lower case, the query
// arguments sorted (first by name, then by value; blanks kept; spaces as `+`), percent-encodings normalised to upper
// case, the fragment dropped. The parsing follows Python's urllib.parse.urlparse, not WHATWG's URL, which normalises
// differently (a default port removed, dot segments resolved, `%7E` kept).

import { domainToASCII } from "node:url";

const C0_CONTROL_OR_SPACE = /^[\x00-\x20]+|[\x00-\x20]+$/g;
const TAB_OR_NEWLINE = /[\t\r\n]/g;
const SCHEME_CHARS = /^[A-Za-z][A-Za-z0-9+\-.]*$/;

// Python's urllib.parse.uses_params / uses_netloc.
const USES_PARAMS = new Set(["", "ftp", "hdl", "prospero", "http", "imap", "https", "shttp", "rtsp", "rtspu", "sip",
  "sips", "mms", "sftp", "tel"]);
const USES_NETLOC = new Set(["", "ftp", "http", "gopher", "nntp", "telnet", "imap", "wais", "file", "mms", "https",
  "shttp", "snews", "prospero", "rtsp", "rtspu", "rsync", "svn", "svn+ssh", "sftp", "nfs", "git", "git+ssh", "ws",
  "wss"]);

const ALWAYS_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~";
// w3lib: RFC 3986 reserved + unreserved + "|" + "%"; the path's set without "#".
const SAFE_CHARS = ":/?#[]@!$&'()*+,;=" + ALWAYS_SAFE + "|%";
const PATH_SAFE_CHARS = SAFE_CHARS.replace("#", "");

function safeSet(chars: string): boolean[] {
  const set = new Array<boolean>(256).fill(false);
  for (const c of ALWAYS_SAFE + chars) {
    set[c.charCodeAt(0)] = true;
  }
  return set;
}

const SAFE = safeSet(SAFE_CHARS);
const PATH_SAFE = safeSet(PATH_SAFE_CHARS);
const PLUS_SAFE = safeSet(" ");

/** Python's urllib.parse.quote on bytes. */
function quote(bytes: Uint8Array, safe: boolean[]): string {
  let out = "";
  for (const b of bytes) {
    out += safe[b] ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Python's urllib.parse.quote_plus(bytes, safe=""). */
function quotePlus(bytes: Uint8Array): string {
  return quote(bytes, PLUS_SAFE).replace(/ /g, "+");
}

const HEX2 = /^[0-9A-Fa-f]{2}/;

/** Python's urllib.parse.unquote_to_bytes: %XX decoded, a `%` not followed by two hex digits kept. */
function unquoteToBytes(text: string): Buffer {
  const bits = Buffer.from(text, "utf8").toString("latin1").split("%");
  const parts: Buffer[] = [Buffer.from(bits[0], "latin1")];
  for (const bit of bits.slice(1)) {
    if (HEX2.test(bit)) {
      parts.push(Buffer.from([parseInt(bit.slice(0, 2), 16)]), Buffer.from(bit.slice(2), "latin1"));
    } else {
      parts.push(Buffer.from(`%${bit}`, "latin1"));
    }
  }
  return Buffer.concat(parts);
}

interface Parsed {
  scheme: string;
  netloc: string;
  path: string;
  params: string;
  query: string;
  fragment: string;
}

/** Python's urllib.parse.urlparse (3.11). */
function urlparse(input: string): Parsed {
  let url = input;
  let scheme = "";
  let netloc = "";
  let query = "";
  let fragment = "";
  let params = "";
  const colon = url.indexOf(":");
  if (colon > 0 && SCHEME_CHARS.test(url.slice(0, colon))) {
    scheme = url.slice(0, colon).toLowerCase();
    url = url.slice(colon + 1);
  }
  if (url.startsWith("//")) {
    let end = url.length;
    for (const c of "/?#") {
      const at = url.indexOf(c, 2);
      if (at >= 0) {
        end = Math.min(end, at);
      }
    }
    netloc = url.slice(2, end);
    url = url.slice(end);
  }
  const hash = url.indexOf("#");
  if (hash >= 0) {
    fragment = url.slice(hash + 1);
    url = url.slice(0, hash);
  }
  const question = url.indexOf("?");
  if (question >= 0) {
    query = url.slice(question + 1);
    url = url.slice(0, question);
  }
  if (USES_PARAMS.has(scheme) && url.includes(";")) {
    const at = url.includes("/") ? url.indexOf(";", url.lastIndexOf("/")) : url.indexOf(";");
    if (at >= 0) {
      params = url.slice(at + 1);
      url = url.slice(0, at);
    }
  }
  return { scheme, netloc, path: url, params, query, fragment };
}

/** Python's urllib.parse.urlunparse. */
function urlunparse(parts: Parsed): string {
  let url = parts.params ? `${parts.path};${parts.params}` : parts.path;
  if (parts.netloc || (parts.scheme && USES_NETLOC.has(parts.scheme) && !url.startsWith("//"))) {
    if (url && !url.startsWith("/")) {
      url = `/${url}`;
    }
    url = `//${parts.netloc}${url}`;
  }
  if (parts.scheme) {
    url = `${parts.scheme}:${url}`;
  }
  if (parts.query) {
    url = `${url}?${parts.query}`;
  }
  if (parts.fragment) {
    url = `${url}#${parts.fragment}`;
  }
  return url;
}

/** The netloc IDNA-encoded (ASCII netlocs are left as they are, as Python's idna codec does). */
function idnaNetloc(netloc: string): string {
  if (/^[\x00-\x7f]*$/.test(netloc)) {
    return netloc;
  }
  const at = netloc.lastIndexOf("@");
  const userinfo = at >= 0 ? netloc.slice(0, at + 1) : "";
  const hostPort = netloc.slice(at + 1);
  const port = /:[0-9]*$/.exec(hostPort)?.[0] ?? "";
  const host = hostPort.slice(0, hostPort.length - port.length);
  const ascii = domainToASCII(host);
  return ascii ? `${userinfo}${ascii}${port}` : netloc;
}

function compareBytes(a: [Buffer, Buffer], b: [Buffer, Buffer]): number {
  return Buffer.compare(a[0], b[0]) || Buffer.compare(a[1], b[1]);
}

/** The canonical form of `url`, as w3lib.url.canonicalize_url(url) gives it (keep_blank_values, no fragment). */
export function canonicalizeUrl(url: string): string {
  const stripped = url.replace(C0_CONTROL_OR_SPACE, "").replace(TAB_OR_NEWLINE, "");
  const parts = urlparse(stripped);
  const utf8 = (text: string): Buffer => Buffer.from(text, "utf8");
  const netloc = idnaNetloc(parts.netloc);
  const path = quote(utf8(parts.path), PATH_SAFE);
  const params = quote(utf8(parts.params), SAFE);
  const rawQuery = quote(utf8(parts.query), SAFE);

  // The query: split on & and ;, "+" is a space, every pair kept (a name without "=" gets an empty value), sorted by
  // the raw bytes of name then value, and percent-encoded again.
  const pairs: Array<[Buffer, Buffer]> = [];
  for (const chunk of rawQuery.split("&").flatMap((s) => s.split(";"))) {
    if (!chunk) {
      continue;
    }
    const eq = chunk.indexOf("=");
    const name = eq >= 0 ? chunk.slice(0, eq) : chunk;
    const value = eq >= 0 ? chunk.slice(eq + 1) : "";
    pairs.push([unquoteToBytes(name.replace(/\+/g, " ")), unquoteToBytes(value.replace(/\+/g, " "))]);
  }
  pairs.sort(compareBytes);
  const query = pairs.map(([name, value]) => `${quotePlus(name)}=${quotePlus(value)}`).join("&");

  // The path: percent-encodings decoded (but %2F and %3F kept) and encoded again, in upper case.
  const unquoted = unquoteToBytes(path.replace(/%(2f|2F|3f|3F)/g, (_, hex: string) => `%25${hex.toUpperCase()}`));
  const canonicalPath = quote(unquoted, PATH_SAFE) || "/";

  return urlunparse({
    scheme: parts.scheme,
    netloc: netloc.toLowerCase().replace(/:+$/, ""),
    path: canonicalPath,
    params,
    query,
    fragment: "",
  });
}
