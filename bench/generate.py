"""A seeded generator of realistic access logs, for benchmarks and large tests.

    python bench/generate.py --lines 1000000 --format common_complete --seed 1 access.log

Mixes: ~2,000 visitors (a few very active), long real-looking user agents with ~10 % bots, static files,
downloads, errors, redirects, query strings, non-ASCII paths, four hosts, increasing timestamps. About 280
bytes a line in ``common_complete``. The same seed gives the same file.
"""

from __future__ import annotations

import argparse
import gzip
import random
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import TextIO

BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{v} "
    "Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.6167.101 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
    "Safari/537.36 Edg/{v}.0.2277.83",
]
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "curl/8.5.0",
]
HOSTS = ["www.example.com", "shop.example.com", "blog.example.com", "docs.example.org"]
PAGES = [
    "/",
    "/index.html",
    "/products/{n}",
    "/products/{n}/reviews",
    "/blog/2024/{n:02d}/post-{n}",
    "/search",
    "/account/orders",
    "/cart",
    "/checkout",
    "/docs/api/v{n}/reference",
    "/café/menü-{n}",
    "/über-uns",
    "/category/books?page={n}&sort=price",
    "/item/{n}?ref=newsletter&utm_source=mail",
]
STATIC = [
    "/css/site.{n}.css",
    "/js/app.{n}.js",
    "/img/photo-{n}.jpg",
    "/img/logo.png",
    "/favicon.ico",
    "/fonts/inter.woff2",
    "/robots.txt",
]
DOWNLOADS = ["/downloads/report-{n}.pdf", "/files/setup-{n}.exe", "/media/video-{n}.mp4", "/data/export-{n}.csv.zip"]
REFERRERS = ["-", "https://www.google.com/", "https://www.bing.com/search?q=example", "https://news.example.net/a/{n}"]


def visitors(rng: random.Random, count: int) -> list[tuple[str, str]]:
    out = []
    for i in range(count):
        if i % 7 == 0:
            ip = f"2001:db8:{rng.randint(0, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
        else:
            ip = f"{rng.choice((198, 203, 192, 100))}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        ua = rng.choice(BOTS) if rng.random() < 0.10 else rng.choice(BROWSERS).format(v=rng.randint(110, 122))
        out.append((ip, ua))
    return out


def lines(n: int, fmt: str, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    people = visitors(rng, 2000)
    weights = [1.0 / (1 + i) ** 0.8 for i in range(len(people))]
    when = datetime(2024, 3, 1, tzinfo=timezone(timedelta(hours=1)))
    for _ in range(n):
        when += timedelta(milliseconds=rng.randint(0, 250))
        ip, ua = rng.choices(people, weights)[0]
        roll = rng.random()
        kind = rng.choice(STATIC if roll < 0.25 else DOWNLOADS if roll < 0.30 else PAGES)
        path = kind.format(n=rng.randint(1, 60))
        status = rng.choices((200, 304, 301, 302, 404, 500), (86, 5, 2, 2, 4, 1))[0]
        size = 0 if status in (301, 302, 304) else rng.randint(200, 90_000)
        host = rng.choice(HOSTS)
        ref = rng.choice(REFERRERS).format(n=rng.randint(1, 99))
        stamp = when.strftime("%d/%b/%Y:%H:%M:%S %z")
        method = "POST" if path == "/checkout" else "GET"
        common = f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {size}'
        if fmt == "common":
            yield common
        elif fmt == "ncsa_extended":
            yield f'{common} "{ref}" "{ua}"'
        elif fmt == "common_complete":
            yield f'{host} {common} "{ref}" "{ua}"'
        else:
            raise SystemExit(f"unknown format {fmt}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", help="file to write ('-': stdout; '.gz': compressed)")
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--format", default="common_complete", choices=["common", "ncsa_extended", "common_complete"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.output == "-":
        write(sys.stdout, args)
    elif args.output.endswith(".gz"):
        with gzip.open(args.output, "wt", encoding="utf-8", compresslevel=6) as out:
            write(out, args)
    else:
        with open(args.output, "w", encoding="utf-8") as out:
            write(out, args)


def write(out: TextIO, args: argparse.Namespace) -> None:
    chunk: list[str] = []
    for line in lines(args.lines, args.format, args.seed):
        chunk.append(line)
        if len(chunk) == 10_000:
            out.write("\n".join(chunk) + "\n")
            chunk.clear()
    if chunk:
        out.write("\n".join(chunk) + "\n")


if __name__ == "__main__":
    main()
