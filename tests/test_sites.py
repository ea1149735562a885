"""Sites found by host name (no --idsite), created with --add-sites-new-hosts, or --idsite-fallback: Matomo and
Piwik PRO, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SECRET_ENV, run_cli
from fake_others import FakeMatomo
from fake_server import FakePiwikPro

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def three_hosts(tmp_path: Path) -> Path:
    """Nine page views on three virtual hosts; blog.example.org has no site yet."""
    lines = []
    for i, host in enumerate(["www.example.com", "shop.example.com", "blog.example.org"] * 3):
        lines.append(
            f'{host} 203.0.113.{i} - - [10/Feb/2024:16:42:{i:02d} -0500] "GET /p{i} HTTP/1.1" 200 10 "-" "{UA}"'
        )
    path = tmp_path / "vhosts.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def summary_of(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("{") :])


# --- Matomo ------------------------------------------------------------------------------------------------


def matomo_sites() -> dict[str, str]:
    return {"1": "https://www.example.com", "2": "http://shop.example.com"}


def matomo_args(server: FakeMatomo, *extra: str) -> list[str]:
    return [f"--url={server.url}", "--retry-delay=0.01", "--no-progress", "--summary-json=-", *extra]


def test_matomo_without_add_sites_two_sites_and_one_host_counted_and_listed(tmp_path: Path) -> None:
    with FakeMatomo(sites=matomo_sites()) as matomo:
        result = run_cli(
            *matomo_args(matomo),
            str(three_hosts(tmp_path)),
            cwd=tmp_path,
            env={"IMPORT_LOGS_TOKEN_AUTH": "secret-token"},
        )
    assert result.returncode == 0, result.stderr
    by_site = {h["idsite"] for h in matomo.hits}
    assert by_site == {"1", "2"} and len(matomo.hits) == 6
    assert all(h["url"].startswith(("https://www.example.com/", "https://shop.example.com/")) for h in matomo.hits)
    summary = summary_of(result.stdout)
    assert summary["unknown_hosts"] == {"blog.example.org": 3}
    assert summary["skipped"]["unknown_site"] == 3 and summary["hits_not_sent"] == 0
    assert "blog.example.org" in result.stderr.split("Hosts with no site")[1]  # the text summary: stderr
    # Each host is looked up once for the run, whatever the number of its hits.
    lookups = [c["url"] for c in matomo.api_calls if c["method"] == "SitesManager.getSitesIdFromSiteUrl"]
    assert sorted(lookups) == sorted(f"http://{h}" for h in ("www.example.com", "shop.example.com", "blog.example.org"))


def test_matomo_with_add_sites_new_hosts_three_sites(tmp_path: Path) -> None:
    with FakeMatomo(sites=matomo_sites()) as matomo:
        result = run_cli(
            *matomo_args(matomo, "--add-sites-new-hosts", "--workers=2", "--recorders=2"),
            str(three_hosts(tmp_path)),
            cwd=tmp_path,
            env={"IMPORT_LOGS_TOKEN_AUTH": "super-token"},
        )
    assert result.returncode == 0, result.stderr
    assert {h["idsite"] for h in matomo.hits} == {"1", "2", "3"} and len(matomo.hits) == 9
    assert matomo.sites["3"] == "https://blog.example.org"
    assert summary_of(result.stdout)["sites_created"] == {"blog.example.org": "3"}
    assert "created site 3 for blog.example.org" in result.stderr


def test_matomo_fallback_site_takes_unknown_hosts(tmp_path: Path) -> None:
    with FakeMatomo(sites=matomo_sites()) as matomo:
        result = run_cli(
            *matomo_args(matomo, "--idsite-fallback=1"),
            str(three_hosts(tmp_path)),
            cwd=tmp_path,
            env={"IMPORT_LOGS_TOKEN_AUTH": "secret-token"},
        )
    assert result.returncode == 0, result.stderr
    assert sorted(h["idsite"] for h in matomo.hits) == ["1"] * 6 + ["2"] * 3


def test_a_format_without_host_needs_idsite(tmp_path: Path) -> None:
    log = tmp_path / "common.log"
    log.write_text('203.0.113.1 - - [10/Feb/2024:16:42:01 -0500] "GET / HTTP/1.1" 200 10\n')
    with FakeMatomo() as matomo:
        result = run_cli(*matomo_args(matomo), str(log), cwd=tmp_path, env={"IMPORT_LOGS_TOKEN_AUTH": "secret-token"})
    assert result.returncode == 2
    assert "the common format has no host, so the site of its hits cannot be found by host name" in result.stderr


# --- Piwik PRO ---------------------------------------------------------------------------------------------


def piwik_apps() -> dict[str, list[str]]:
    return {"app-www": ["https://www.example.com"], "app-shop": ["https://shop.example.com"]}


def piwik_args(server: FakePiwikPro, *extra: str) -> list[str]:
    return [
        f"--url={server.url}",
        "--client-id=client-id",
        "--retry-delay=0.01",
        "--no-progress",
        "--summary-json=-",
        *extra,
    ]


@pytest.mark.parametrize("add_sites", [False, True])
def test_piwik_pro_apps_by_host_name(tmp_path: Path, add_sites: bool) -> None:
    extra = ["--add-sites-new-hosts"] if add_sites else []
    with FakePiwikPro(apps=piwik_apps()) as fake:
        result = run_cli(*piwik_args(fake, *extra), str(three_hosts(tmp_path)), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    summary = summary_of(result.stdout)
    assert sorted(fake.lookups) == ["blog.example.org", "shop.example.com", "www.example.com"]
    if add_sites:
        assert fake.created == [("blog.example.org", "created-3")]
        assert fake.apps["created-3"] == ["https://blog.example.org"]
        assert {h["idsite"] for h in fake.hits} == {"app-www", "app-shop", "created-3"} and len(fake.hits) == 9
        assert summary["sites_created"] == {"blog.example.org": "created-3"}
    else:
        assert fake.created == []
        assert {h["idsite"] for h in fake.hits} == {"app-www", "app-shop"} and len(fake.hits) == 6
        assert summary["unknown_hosts"] == {"blog.example.org": 3}
    for hit in fake.hits:
        assert hit["url"].split("/")[2] in ("www.example.com", "shop.example.com", "blog.example.org")


def test_piwik_pro_replay_keeps_the_logged_app_and_parameters(tmp_path: Path) -> None:
    log = tmp_path / "tracker.log"
    log.write_text(
        '203.0.113.7 - - [10/Feb/2024:16:42:07 -0500] "GET /ppms.php?idsite=app-uuid-1&rec=1&_id=feedface&'
        'url=https%3A%2F%2Fwww.example.com%2Fa HTTP/1.1" 202 0 "-" "UA one"\n'
        '203.0.113.7 - - [10/Feb/2024:16:42:08 -0500] "GET /js/tracker.php?idsite=app-uuid-1&rec=1&_id=feedface&'
        'url=https%3A%2F%2Fwww.example.com%2Fb HTTP/1.1" 200 0 "-" "UA one"\n'
    )
    with FakePiwikPro() as fake:
        result = run_cli(*piwik_args(fake, "--replay-tracking"), str(log), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    assert [(h["idsite"], h["_id"], h["url"]) for h in fake.hits] == [
        ("app-uuid-1", "feedface", "https://www.example.com/a"),
        ("app-uuid-1", "feedface", "https://www.example.com/b"),
    ]
    assert fake.hits[0]["cdt"] == "2024-02-10 21:42:07" and fake.hits[0]["cip"] == "203.0.113.7"
