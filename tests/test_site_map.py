"""The site map as a unit: one lookup per host, the fallback, creation, and hits of unknown hosts counted."""

from __future__ import annotations

import httpx
import pytest

from import_logs.backends import SITE_PLACEHOLDER
from import_logs.backends.base import Batch
from import_logs.backends.http_sender import from_response
from import_logs.backends.sites import SiteMap, site_text
from import_logs.config import BackendOptions
from import_logs.errors import AuthError, RejectedError
from import_logs.events import Event, Notice
from import_logs.hits import Hits
from import_logs.stats import Stats


class Sites:
    """A sender's site half: known hosts, and the sites it was asked to create."""

    def __init__(self, known: dict[str, str]) -> None:
        self.known = known
        self.asked: list[str] = []
        self.created: list[str] = []

    def find_site(self, key: str) -> str | None:
        self.asked.append(key)
        return self.known.get(key)

    def create_site(self, host: str) -> str:
        self.created.append(host)
        return f"new-{host}"


def hits(*keys: str) -> Hits:
    numbers = list(range(1, len(keys) + 1))
    items = [f'{{"idsite":"{SITE_PLACEHOLDER}","n":{n}}}' for n in numbers]
    return Hits(lines=numbers, items=items, visitors=[f"v{n}" for n in numbers], keys=list(keys))


def put(sites: SiteMap, *keys: str) -> tuple[list[int], list[str], list[str]]:
    out = sites.put(hits(*keys))
    return out.lines, out.items, out.visitors


def make(sender: Sites, **options: object) -> tuple[SiteMap, Stats, list[Event]]:
    stats = Stats()
    events: list[Event] = []
    return SiteMap(sender, BackendOptions(**options), stats, events.append), stats, events  # type: ignore[arg-type]


def test_each_host_is_looked_up_once_and_its_site_written_in() -> None:
    sender = Sites({"a.example": "1", "b.example": "2"})
    sites, stats, _ = make(sender)
    numbers, items, visitors = put(sites, "a.example", "b.example", "a.example")
    numbers, items, visitors = put(sites, "a.example", "b.example")
    assert sender.asked == ["a.example", "b.example"]
    assert items == ['{"idsite":"1","n":1}', '{"idsite":"2","n":2}']
    assert (numbers, visitors) == ([1, 2], ["v1", "v2"])
    assert stats.skipped["unknown_site"] == 0


def test_hits_of_unknown_hosts_are_counted_per_host_and_left_out() -> None:
    sites, stats, _ = make(Sites({"a.example": "1"}))
    stats.kept = 4
    numbers, _items, visitors = put(sites, "a.example", "x.example", "", "x.example")
    assert numbers == [1] and visitors == ["v1"]
    assert stats.unknown_sites == {"x.example": 2, "(no host)": 1}
    assert stats.skipped["unknown_site"] == 3
    assert stats.kept == 1


def test_the_fallback_takes_unknown_hosts_and_hits_without_a_host() -> None:
    sender = Sites({"a.example": "1"})
    sites, _stats, _ = make(sender, idsite_fallback="9")
    _, items, _ = put(sites, "a.example", "x.example", "")
    assert [item.split('"')[3] for item in items] == ["1", "9", "9"]
    assert sender.asked == ["a.example", "x.example"]  # no host: never asked


def test_add_sites_new_hosts_creates_once_and_says_so() -> None:
    sender = Sites({})
    sites, stats, events = make(sender, add_sites_new_hosts=True)
    _, items, _ = put(sites, "x.example", "x.example", "")
    assert sender.created == ["x.example"]
    assert len(items) == 2 and stats.sites_created == {"x.example": "new-x.example"}
    assert stats.unknown_sites == {"(no host)": 1}
    assert [e.message for e in events if isinstance(e, Notice)] == [
        "created site new-x.example for x.example (--add-sites-new-hosts)"
    ]


def test_replaying_never_creates_a_site_for_a_logged_idsite() -> None:
    sender = Sites({})
    sites, stats, _ = make(sender, add_sites_new_hosts=True, replay_tracking=True)
    numbers, _, _ = put(sites, "7")
    assert numbers == [] and sender.created == [] and stats.unknown_sites == {"7": 1}


@pytest.mark.parametrize(("site", "text"), [("12", "12"), ("0b2e-4c1a", "0b2e-4c1a"), ('a"b&c', "a%22b%26c")])
def test_a_site_id_is_safe_in_json_and_in_a_query_string(site: str, text: str) -> None:
    assert site_text(site) == text


def test_errors_from_an_answer_carry_its_facts_and_the_first_line_of_the_batch() -> None:
    response = httpx.Response(400, text="bad   request\n body", request=httpx.Request("POST", "http://t/x"))
    batch = Batch(Hits(lines=[10, 11], items=["a", "b"], sources=[0, 0]), names=["access.log"])
    rejected = from_response(RejectedError, "rejected", response, url="http://t/x", batch=batch, start=1)
    assert (rejected.status, rejected.excerpt, rejected.path, rejected.lineno) == (
        400,
        "bad request body",
        "access.log",
        11,
    )
    refused = from_response(AuthError, "refused", response, url="http://t/x")
    assert (str(refused), refused.url, refused.status) == ("refused", "http://t/x", 400)
