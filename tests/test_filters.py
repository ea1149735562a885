"""Every filter, its option, and the one reason a skipped hit is counted under."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from import_logs.config import FilterOptions
from import_logs.filters import AI_ASSISTANT, BOT, DOWNLOAD, ERROR, REDIRECT, HitFilter, extension
from import_logs.parsing.hit import Hit

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def hit(path: str = "/", status: int = 200, ua: str = BROWSER, host: str | None = "www.example.com") -> Hit:
    return Hit(
        datetime(2024, 2, 10, tzinfo=timezone.utc),
        "1.2.3.4",
        host,
        "GET",
        path,
        "",
        status,
        10,
        "",
        ua,
        None,
        None,
    )


CASES: list[tuple[dict[str, Any], Hit, tuple[str | None, int]]] = [
    ({}, hit("/"), (None, 0)),
    ({}, hit("/doc.PDF"), (None, DOWNLOAD)),
    ({}, hit("/v1.2/api"), (None, 0)),
    # static files
    ({}, hit("/a/site.css"), ("static", 0)),
    ({}, hit("/robots.txt"), ("static", 0)),
    ({}, hit("/feed.xml"), ("static", 0)),
    ({"enable_static": True}, hit("/logo.png"), (None, DOWNLOAD)),
    # bots
    ({}, hit(ua=GOOGLEBOT), ("bot", 0)),
    ({}, hit(ua="curl/8.5.0"), ("bot", 0)),
    ({"enable_bots": True}, hit(ua=GOOGLEBOT), (None, BOT)),
    ({"useragent_exclude": ("MyMonitor",)}, hit(ua="mymonitor/1.0"), ("bot", 0)),
    # errors and redirects
    ({}, hit(status=404), ("http_error", 0)),
    ({}, hit(status=503), ("http_error", 0)),
    ({"enable_http_errors": True}, hit(status=500), (None, ERROR)),
    ({}, hit(status=301), ("http_redirect", 0)),
    ({}, hit(status=304), (None, 0)),
    ({"enable_http_redirects": True}, hit(status=302), (None, REDIRECT)),
    # downloads
    ({"download_extensions": frozenset({"pdf"})}, hit("/a.zip"), ("download_extension", 0)),
    ({"download_extensions": frozenset({"pdf"})}, hit("/a.pdf"), (None, DOWNLOAD)),
    ({"download_extensions": frozenset({"PDF", ".iso"})}, hit("/a.iso"), (None, DOWNLOAD)),
    # hosts and paths
    ({"hostnames": ("*.example.com",)}, hit(host="www.example.com"), (None, 0)),
    ({"hostnames": ("*.example.com",)}, hit(host="www.example.org"), ("hostname", 0)),
    ({"hostnames": ("*.example.com",)}, hit(host=None), (None, 0)),
    ({"exclude_paths": ("/admin/*",)}, hit("/admin/users"), ("excluded_path", 0)),
    ({"exclude_paths": ("/admin/*",)}, hit("/public"), (None, 0)),
    ({"include_paths": ("/blog/*",)}, hit("/shop"), ("not_included_path", 0)),
    ({"include_paths": ("/blog/*",)}, hit("/blog/2024/a"), (None, 0)),
    (
        {"include_paths": ("/blog/*",), "exclude_paths": ("/blog/draft*",)},
        hit("/blog/draft-1"),
        ("excluded_path", 0),
    ),
    # the first check that rejects names the reason (the reference importers' order)
    ({}, hit("/x.css", status=404, ua=GOOGLEBOT), ("http_error", 0)),
    ({}, hit("/x.css", ua=GOOGLEBOT), ("static", 0)),
    (
        {"enable_http_errors": True, "enable_bots": True},
        hit("/a.pdf", 404, GOOGLEBOT),
        (None, DOWNLOAD | ERROR | BOT),
    ),
]


@pytest.mark.parametrize(("options", "the_hit", "expected"), CASES)
def test_filter(options: dict[str, Any], the_hit: Hit, expected: tuple[str | None, int]) -> None:
    assert HitFilter(FilterOptions(**options)).check(the_hit) == expected


@pytest.mark.parametrize(
    ("path", "ext"), [("/", ""), ("/a.PDF", "pdf"), ("/v1.2/api", ""), ("/a.tar.gz", "gz"), ("a", "")]
)
def test_extension_of_the_last_segment(path: str, ext: str) -> None:
    assert extension(path) == ext


def test_bot_answer_is_cached_per_user_agent() -> None:
    f = HitFilter(FilterOptions())
    assert f.is_bot(GOOGLEBOT) and not f.is_bot(BROWSER)
    assert f._bots == {GOOGLEBOT: BOT, BROWSER: 0}


CHATGPT_USER = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot"
)
DUCKASSIST = "DuckAssistBot/1.2; (+http://duckduckgo.com/duckassistbot.html)"


def test_ai_assistants_are_flagged_and_kept_only_for_matomos_bot_mode() -> None:
    """With ``ai_assistants`` (Matomo's bot mode) an assistant's request is kept whatever its status and
    --enable-bots, and flagged; without it, it is judged as before (DuckAssistBot's "bot/" makes it a bot)."""
    on = HitFilter(FilterOptions(), ai_assistants=True)
    assert on.check(hit(ua=CHATGPT_USER)) == (None, AI_ASSISTANT)
    assert on.check(hit(ua=DUCKASSIST, status=404)) == (None, AI_ASSISTANT)
    assert on.check(hit(ua=GOOGLEBOT)) == ("bot", 0)
    assert on.check(hit(ua=BROWSER, status=404)) == ("http_error", 0)
    off = HitFilter(FilterOptions())
    assert off.check(hit(ua=CHATGPT_USER)) == (None, 0)
    assert off.check(hit(ua=DUCKASSIST)) == ("bot", 0)
    assert off.check(hit(ua=CHATGPT_USER, status=404)) == ("http_error", 0)


def _at(hour: int) -> datetime:
    return datetime(2024, 2, 10, hour, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("options", "the_hit", "expected"),
    [
        ({"include_hosts": ("WWW.example.com",)}, hit(host="www.example.com"), (None, 0)),
        ({"include_hosts": ("www.example.com",)}, hit(host="shop.example.com"), ("host_filter", 0)),
        ({"include_hosts": ("www.example.com",)}, hit(host=None), ("host_filter", 0)),
        ({"exclude_hosts": ("shop.example.com",)}, hit(host="shop.example.com"), ("host_filter", 0)),
        ({"exclude_hosts": ("shop.example.com",)}, hit(host=None), (None, 0)),
        ({"older_than": _at(1)}, hit(), ("date_range", 0)),
        ({"older_than": _at(0)}, hit(), (None, 0)),
        ({"newer_than": _at(0)}, hit()._replace(time=_at(1)), ("date_range", 0)),
        ({"newer_than": _at(1)}, hit()._replace(time=_at(1)), (None, 0)),
    ],
)
def test_host_and_date_filters(options: dict[str, Any], the_hit: Hit, expected: tuple[str | None, int]) -> None:
    assert HitFilter(FilterOptions(**options)).check(the_hit) == expected


@pytest.mark.parametrize(
    "options",
    [
        FilterOptions(),
        FilterOptions(enable_static=True, enable_http_errors=True, enable_http_redirects=True),
        FilterOptions(exclude_paths=("/blog/*",), include_paths=("/b*", "/img/*")),
        FilterOptions(hostnames=("*.example.com",), download_extensions=("css",)),
        FilterOptions(download_extensions=("pdf",)),  # a .zip is then skipped for its extension, first
        FilterOptions(exclude_status=("3xx",), exclude_methods=("POST",)),
    ],
)
def test_a_path_skip_is_the_reason_the_whole_check_gives_a_success(options: FilterOptions) -> None:
    """The parser looks up ``path_skips[path]`` before it reads the rest of a line, and skips a hit answered with a
    success (below 300, or 304) for that reason: it must be the one ``check`` gives the whole hit."""
    f = HitFilter(options)
    settled = 0
    for path in ("/", "/a.css", "/img/x.png", "/robots.txt", "/blog/post", "/file.zip", "/doc.pdf", "/b.js"):
        skip = f.path_skips[path]
        assert path in f.path_skips  # worked out once
        if not skip:
            continue
        for status in (200, 204, 206, 304):
            for ua in (BROWSER, "Googlebot/2.1"):
                for host in ("www.example.com", "other.org", None):
                    settled += 1
                    assert skip == f.check(hit(path, status, ua, host))[0], (path, status, ua, host)
    assert HitFilter(FilterOptions()).path_skips["/a.css"] == "static"
    assert settled or options.enable_static or options.hostnames or options.exclude_status  # these need the hit
