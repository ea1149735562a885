"""The Matomo and Pirsch encoders, as plain functions (#12): the same hit, the same values, each backend's form."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import pytest

from import_logs.backends import EncodeSpec, make_encoder
from import_logs.filters import DOWNLOAD
from import_logs.parsing.hit import Hit

WHEN = datetime(2024, 2, 10, 21, 42, 7, tzinfo=timezone.utc)
HITS = [
    Hit(WHEN, "203.0.113.7", "www.example.com", "GET", "/a b/é.pdf", "q=1&x=y", 200, 5120, "https://r.example/?a=b",
        'Mozilla "quoted" \\ \u2028', "bob", 46),
    Hit(WHEN, None, None, "GET", "/", "", 404, 0, "", "", None, None),
]  # fmt: skip


def spec(backend: str) -> EncodeSpec:
    return EncodeSpec(backend=backend, idsite="3", main_url="https://www.example.com")


@pytest.mark.parametrize("hit", HITS)
@pytest.mark.parametrize("flags", [0, DOWNLOAD])
def test_matomo_sends_what_piwik_pro_sends_as_a_query_string(hit: Hit, flags: int) -> None:
    matomo = make_encoder(spec("matomo"))(hit, flags)
    piwikpro = json.loads(make_encoder(spec("piwikpro"))(hit, flags))
    query = json.loads(matomo)
    assert query.startswith("?")
    sent = dict(parse_qsl(query[1:], keep_blank_values=True))
    same = {k: v for k, v in piwikpro.items() if k not in ("gt_ms", "ts_n", "ts_v")}
    assert {k: sent[k] for k in same} == same  # every value, quoted and unquoted back to itself
    assert sent.get("pf_srv") == piwikpro.get("gt_ms")  # Matomo's name for the generation time
    assert ("download" in sent) == bool(flags & DOWNLOAD)


@pytest.mark.parametrize("hit", HITS)
def test_pirsch_sends_its_fields_with_an_rfc3339_time(hit: Hit) -> None:
    sent = json.loads(make_encoder(spec("pirsch"))(hit, 0))
    assert sent["time"] == "2024-02-10T21:42:07Z"
    assert sent["url"].startswith("https://www.example.com/")
    assert sent["user_agent"] == (hit.user_agent or "import-logs (no user agent in the log)")  # Pirsch needs one
    assert sent["ip"] == (hit.ip or "")
