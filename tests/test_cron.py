"""Ten cron lines as users of the reference importers write them (Piwik PRO's documentation, Matomo's FAQ),
run twice each through the real CLI against the fake servers: the first run imports, the second finds
nothing new (exit 6) and sends nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES, run_cli
from fake_others import FakeMatomo
from fake_server import FakePiwikPro

LOG = str(SAMPLES / "common_complete.log")

PIWIK_LINES = {
    "documentation": [
        "--enable-static",
        "--enable-bots",
        "--enable-http-redirects",
        "--enable-reverse-dns",
        "--recorders=4",
        "--enable-bulk-tracking",
        "--recorder-max-payload-size=50",
        "--useragent-exclude=Zabbix",
        "--hostname=*.example.com",
        "--exclude-path=/admin/*",
    ],
    "format and progress": [
        "--log-format-name=common_complete",
        "--strip-query-string",
        "--show-progress",
        "--show-progress-delay=5",
        "--title-category-delimiter=::",
        "--enable-http-errors",
    ],
    "slow server": [
        "--tracker-endpoint-path=ppms.php",
        "--request-timeout=30",
        "--retry-max-attempts=5",
        "--retry-delay=1",
        "--sleep-between-requests-ms=5",
    ],
    "one hit per request": ["--disable-bulk-tracking", "--debug-tracker", "-d"],
    "custom variables": [
        "--regex-group-to-visit-cvar=userid=User,cookie=Cookie",
        "--track-http-method=1",
        "--ignore-groups=generation_time_milli",
        "--exclude-older-than=2024-02-10 16:43:00 -0500",
    ],
}

MATOMO_LINES = {
    "faq": ["--idsite=1", "--recorders=2", "--enable-http-errors", "--enable-http-redirects", "--enable-static"],
    "login": ["--login=admin", "--add-sites-new-hosts"],
    "fallback": ["--idsite-fallback=1", "--include-host=www.example.com", "--include-host=shop.example.com"],
    "proxy and php": [
        "--idsite=1",
        "--tracker-endpoint-path=/piwik.php",
        "--request-suffix=foo=bar",
        "--auth-user=proxy",
        "--config=/var/www/matomo/config/config.ini.php",
        "--php-binary=/usr/bin/php",
        "--api-url={url}",
    ],
    "settings file": ["--settings={settings}", "--quiet"],
}


def twice(args: list[str], tmp_path: Path, env: dict[str, str]) -> tuple[Any, Any]:
    first = run_cli(*args, LOG, cwd=tmp_path, env=env)
    second = run_cli(*args, LOG, cwd=tmp_path, env=env)
    return first, second


@pytest.mark.parametrize("name", list(PIWIK_LINES))
def test_piwik_pro_cron_lines(name: str, tmp_path: Path) -> None:
    with FakePiwikPro() as fake:
        args = [f"--url={fake.url}", "--client-id=client-id", "--idsite=app-uuid-1", *PIWIK_LINES[name]]
        first, second = twice(args, tmp_path, {"IMPORT_LOGS_CLIENT_SECRET": "client-secret"})
        assert first.returncode == 0, first.stderr
        sent = len(fake.hits)
        assert sent > 0
        assert second.returncode == 6, second.stderr
        assert len(fake.hits) == sent
        if name == "one hit per request":
            assert all(len(json.loads(r.body)["requests"]) == 1 for r in fake.tracking_requests())
            assert all(r.path == "/ppms.php?debug=1" for r in fake.tracking_requests())
            assert "tracker answered HTTP 202" in first.stderr
        if name == "custom variables":
            alice = [h for h in fake.hits if "uid" in h]
            assert alice and all(json.loads(h["_cvar"]) == {"1": ["User", "alice"]} for h in alice)
            assert all(json.loads(h["cvar"])["1"] == ["HTTP-method", "GET"] for h in fake.hits)
            assert all("gt_ms" not in h for h in fake.hits)
            assert "--regex-group-to-visit-cvar: the common_complete format has no group cookie; ignored." in (
                first.stderr
            )
        if name == "documentation":
            assert all(h["dp"] == "0" and h["bots"] == "1" for h in fake.hits)


@pytest.mark.parametrize("name", list(MATOMO_LINES))
def test_matomo_cron_lines(name: str, tmp_path: Path) -> None:
    settings = tmp_path / "import-logs.toml"
    with FakeMatomo() as matomo:
        settings.write_text(f'url = "{matomo.url}"\ntoken-auth = "secret-token"\nidsite = "1"\nrecorders = 2\n')
        os.chmod(settings, 0o600)
        extra = [a.format(url=matomo.url, settings=settings) for a in MATOMO_LINES[name]]
        args = extra if name == "settings file" else [f"--url={matomo.url}", *extra]
        env = {"IMPORT_LOGS_TOKEN_AUTH": "secret-token", "IMPORT_LOGS_PASSWORD": "admin-password"}
        if name in ("login", "settings file"):
            env.pop("IMPORT_LOGS_TOKEN_AUTH")
        first, second = twice(args, tmp_path, env)
        assert first.returncode == 0, first.stderr
        sent = len(matomo.hits)
        assert sent > 0
        assert second.returncode == 6, second.stderr
        assert len(matomo.hits) == sent
        if name == "settings file":
            assert first.stderr == ""
            assert first.stdout.startswith("import-logs: 20 new lines in 1 file: 9 hits sent")
            assert second.stdout == second.stderr == ""  # nothing new, nothing wrong: cron mails nothing
        if name == "proxy and php":
            assert "--config is not used: the Matomo token comes from --token-auth" in first.stderr
            tracking = matomo.tracking_requests()
            assert {r.path for r in tracking} == {"/piwik.php?foo=bar"}
            assert all(r.headers["authorization"].startswith("Basic ") for r in tracking)
        if name == "login":
            assert {h["idsite"] for h in matomo.hits} == {"1", "2"}  # shop.example.com created
