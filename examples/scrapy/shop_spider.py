"""A Scrapy spider for the demo shop (listing pages with pagination, one page per product), made a RunSaga scraper by
the runsaga_scrapy package: three settings below, and every crawl is a RunSaga run.

    PYTHONPATH=clients/python python3 -m scrapy runspider examples/scrapy/shop_spider.py \
        -a start_url=http://127.0.0.1:8000/ -s RUNSAGA_AMQP_URL=amqp://... -s RUNSAGA_SOURCE=demo-shop

A shop to crawl: `python3 examples/shop/serve.py --port 8000` (`scripts/up --crawl` does all of it).

Options (-a): start_url (required); stop_after=N closes the crawl with an error after N products (to see a failed
run change nothing).
"""

from __future__ import annotations

import scrapy
from scrapy.exceptions import CloseSpider


class ShopSpider(scrapy.Spider):
    name = "shop"
    custom_settings = {
        # RunSaga: the extension makes the crawl a run, the pipeline sends the items in batches.
        "EXTENSIONS": {"runsaga_scrapy.RunSagaExtension": 500},
        "ITEM_PIPELINES": {"runsaga_scrapy.RunSagaPipeline": 900},
        "RUNSAGA_KEY_FIELD": "sku",
        # A local site: no robots.txt, no politeness delay, no telnet console.
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "CONCURRENT_REQUESTS": 8,
        # Scrapy 2.8's recommended fingerprints (silences its deprecation warning; this spider keeps no cache).
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
    }

    def __init__(self, start_url: str | None = None, stop_after: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not start_url:
            raise ValueError("give the shop's address: -a start_url=http://127.0.0.1:<port>/")
        self.start_urls = [start_url]
        self.stop_after = int(stop_after) if stop_after else None
        self.products = 0

    def parse(self, response):
        """A listing page: every product, then the next page."""
        for href in response.css("a.product::attr(href)").getall():
            yield response.follow(href, self.parse_product)
        next_page = response.css("a.next::attr(href)").get()
        if next_page:
            yield response.follow(next_page, self.parse)

    def parse_product(self, response):
        if self.stop_after is not None and self.products >= self.stop_after:
            raise CloseSpider("stopped_half_way")
        self.products += 1
        price = response.css("span.price")
        yield {
            "sku": price.attrib["data-sku"],
            "title": response.css("h1.title::text").get(),
            "url": response.url,
            "price": float(price.css("::text").get()),
            "description": response.css("p.description::text").get(),
        }
