#!/usr/bin/env python3
"""A small demo shop to crawl, served on 127.0.0.1: the same pages as the tests' shop.

    python3 examples/shop/serve.py --products 60 --port 8000

- `/` and `/list/<n>.html`: listing pages, 10 products each, `<a class="product">` links and an `<a class="next">` link;
  the first one also links to 3 product pages that do not exist (404), as real sites do;
- `/products/<sku>.html`: `<h1 class="title">`, `<span class="price" data-sku="…">`, `<p class="description">`.

`--revision N` (default 1) changes the shop the way a week changes a real one: from revision 2 on, every 7th product
costs more, every 11th is gone and new ones are added, so a second crawl has something to update. `--port 0` takes a
free port. The first line on stdout is `serving http://127.0.0.1:<port>/`. Standard library only.
"""

from __future__ import annotations

import argparse
import html
import http.server
import re
import sys
from dataclasses import dataclass

PER_PAGE = 10
BROKEN_LINKS = 3


@dataclass(frozen=True)
class Product:
    sku: str
    title: str
    price: float
    description: str


def catalogue(count: int, revision: int) -> dict[str, Product]:
    """The shop at a revision: revision 1 has products 1..count; each later one edits, removes and adds some."""
    products = {}
    changes = revision - 1
    for i in range(1, count + 3 * changes + 1):
        if changes and i % 11 == 0:
            continue
        price = 10 + i % 50 + (i % 4) * 0.25 + (changes if i % 7 == 0 else 0)
        sku = f"sku-{i:04d}"
        products[sku] = Product(sku, f"Product {i}", price, f"Product number {i}, in stock.")
    return products


def listing(products: dict[str, Product], number: int) -> str | None:
    skus = sorted(products)
    pages = max(1, -(-len(skus) // PER_PAGE))
    if number > pages:
        return None
    links = "".join(
        f'<li><a class="product" href="/products/{sku}.html">{html.escape(products[sku].title)}</a></li>'
        for sku in skus[(number - 1) * PER_PAGE:number * PER_PAGE]
    )
    if number == 1:
        links += "".join(f'<li><a class="product" href="/products/gone-{i}.html">Gone {i}</a></li>' for i in range(1, BROKEN_LINKS + 1))
    following = f'<a class="next" href="/list/{number + 1}.html">next</a>' if number < pages else ""
    return f"<!doctype html><html><head><title>Shop, page {number}</title></head><body><ul>{links}</ul>{following}</body></html>"


def detail(product: Product) -> str:
    title = html.escape(product.title)
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>\n"
        f'<h1 class="title">{title}</h1>\n'
        f'<span class="price" data-sku="{product.sku}">{product.price:g}</span>\n'
        f'<p class="description">{html.escape(product.description)}</p>\n'
        "</body></html>"
    )


def handler(products: dict[str, Product]) -> type[http.server.BaseHTTPRequestHandler]:
    class Shop(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            page = None
            if path in ("/", "/index.html"):
                page = listing(products, 1)
            elif match := re.fullmatch(r"/list/(\d+)\.html", path):
                page = listing(products, int(match.group(1))) if int(match.group(1)) >= 1 else None
            elif match := re.fullmatch(r"/products/([\w-]+)\.html", path):
                product = products.get(match.group(1))
                page = detail(product) if product else None
            status = 200 if page is not None else 404
            body = (page or f"<!doctype html><html><body><h1>Not found</h1><p>{html.escape(path)}</p></body></html>").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
            pass  # quiet: a crawl asks for every page

    return Shop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=60, help="products at revision 1 (default 60)")
    parser.add_argument("--revision", type=int, default=1, help="1, 2, …: each edits, removes and adds products (default 1)")
    parser.add_argument("--port", type=int, default=8000, help="0 for a free port (default 8000)")
    args = parser.parse_args()
    if args.products < 1 or args.revision < 1:
        parser.error("--products and --revision are at least 1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler(catalogue(args.products, args.revision)))
    print(f"serving http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
