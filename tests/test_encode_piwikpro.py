"""Piwik PRO tracking requests as the reference builds them (reference §6), every value a string."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
import ujson
from hypothesis import given
from hypothesis import strategies as st

from import_logs.backends.base import EncodeSpec
from import_logs.backends.encoding import json_string as _json
from import_logs.backends.piwikpro_encode import PiwikProEncoder
from import_logs.config import TrackingOptions
from import_logs.filters import BOT, DOWNLOAD, ERROR, REDIRECT
from import_logs.parsing.hit import Hit

UA = "Mozilla/5.0 (X11; Linux x86_64)"


def hit(**changes: Any) -> Hit:
    base = Hit(
        datetime(2024, 2, 10, 21, 42, 7, tzinfo=timezone.utc),
        "203.0.113.7",
        "www.example.com",
        "GET",
        "/p",
        "a=1",
        200,
        5120,
        "https://ref.example/",
        UA,
        None,
        None,
    )
    return base._replace(**changes)


def encode(h: Hit, flags: int = 0, main_url: str = "https://site.example", **tracking: Any) -> dict[str, str]:
    bots = tracking.pop("bots", False)
    spec = EncodeSpec(
        "piwikpro", "app-1", main_url, TrackingOptions(**tracking), enable_bots=bots, client_version="9.9"
    )
    text = PiwikProEncoder(spec)(h, flags)
    params = json.loads(text)
    assert all(isinstance(v, str) for v in params.values())
    return params


def test_a_page_view() -> None:
    assert encode(hit()) == {
        "rec": "1",
        "apiv": "1",
        "idsite": "app-1",
        "cdt": "2024-02-10 21:42:07",
        "queuedtracking": "0",
        "dp": "1",
        "ua": UA,
        "url": "https://www.example.com/p?a=1",
        "cip": "203.0.113.7",
        "urlref": "https://ref.example/",
        "cvar": '{"1": ["HTTP-code", "200"]}',
        "bw_bytes": "5120",
        "ts_n": "import-logs",
        "ts_v": "9.9",
    }


def test_host_less_hits_take_the_sites_main_url() -> None:
    assert encode(hit(host=None), main_url="http://site.example/")["url"] == "http://site.example/p?a=1"


def test_the_scheme_comes_from_the_sites_main_url() -> None:
    assert encode(hit(), main_url="http://site.example")["url"] == "http://www.example.com/p?a=1"


def test_strip_query_string_and_delimiter() -> None:
    assert encode(hit(), strip_query_string=True)["url"] == "https://www.example.com/p"
    assert encode(hit(), query_string_delimiter=";")["url"] == "https://www.example.com/p;a=1"


def test_empty_values_are_left_out() -> None:
    params = encode(hit(ip=None, referrer="", userid=None, size=0))
    assert not {"cip", "urlref", "uid", "bw_bytes", "gt_ms"} & params.keys()


def test_user_and_generation_time() -> None:
    params = encode(hit(userid="alice", generation_time_ms=42))
    assert (params["uid"], params["gt_ms"]) == ("alice", "42")


def test_download() -> None:
    params = encode(hit(path="/a.pdf", query=""), DOWNLOAD)
    assert params["download"] == params["url"] == "https://www.example.com/a.pdf"


def test_error_title() -> None:
    params = encode(hit(status=404), ERROR)
    assert params["action_name"] == (
        "404/URL = https%3A%2F%2Fwww.example.com%2Fp%3Fa%3D1/From = https%3A%2F%2Fref.example%2F"
    )
    assert params["cvar"] == '{"1": ["HTTP-code", "404"]}'


def test_redirect_title_with_another_delimiter() -> None:
    params = encode(hit(status=301, referrer=""), REDIRECT, title_category_delimiter=" | ")
    assert params["action_name"] == "301 | URL = https%3A%2F%2Fwww.example.com%2Fp%3Fa%3D1"


@pytest.mark.parametrize(("flags", "kind"), [(BOT, "Bot"), (0, "Not-Bot")])
def test_bots_custom_variable(flags: int, kind: str) -> None:
    params = encode(hit(user_agent='Agent "x"'), flags, bots=True)
    assert params["bots"] == "1"
    assert json.loads(params["_cvar"]) == {"1": [kind, 'Agent "x"']}


def test_reverse_dns_and_long_urls() -> None:
    params = encode(hit(path="/" + "x" * 2000, query="", referrer="https://r/" + "y" * 2000), enable_reverse_dns=True)
    assert params["dp"] == "0"
    assert len(params["url"]) == len("https://www.example.com") + 1024
    assert len(params["urlref"]) == 1024


@given(st.text())
def test_json_strings_are_what_ujson_writes(text: str) -> None:
    """The quote-only shortcut of ``_json`` writes exactly what ujson writes, and JSON reads it back."""
    assert _json(text) == ujson.dumps(text, ensure_ascii=False, escape_forward_slashes=False)
    assert json.loads(_json(text)) == text


def test_custom_dimensions_and_extra_parameters() -> None:
    from import_logs.filters import BOT

    params = encode(
        hit(dimensions=(("7", "alice"),), method="POST", status=404),
        BOT,
        bots=True,
        dimensions=(("http-status", "3"), ("bot", "4"), ("http-method", "5")),
        page_dimensions=(("userid", "7"),),
        extra_params=(("rmip", "1"), ("uia", "1")),
    )
    assert (params["dimension7"], params["dimension3"], params["dimension4"], params["dimension5"]) == (
        "alice",
        "404",
        "Bot",
        "POST",
    )
    assert (params["rmip"], params["uia"]) == ("1", "1")
    assert "dimension3" not in encode(hit())
