"""Matomo 5.7+ bot mode: AI assistants' requests go to the AI Assistants reports (recMode=1) where the fake Matomo
says it records them, never elsewhere; the real CLI against the fake Matomo on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from conftest import run_cli
from fake_others import FakeMatomo

REGEX = (
    r'(?P<host>\S+) (?P<ip>\S+) \S+ \S+ \[(?P<date>.*?) (?P<timezone>.*?)\] "(?P<method>\S+) (?P<path>.*?) \S+" '
    r'(?P<status>\d+) (?P<length>\S+) "(?P<referrer>.*?)" "(?P<user_agent>.*?)" (?P<generation_time_milli>\S+)'
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
CHATGPT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot"
CLAUDE = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Claude-User/1.0; +Claude-User@anthropic.com)"
PERPLEXITY = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; "
    "+https://perplexity.ai/perplexity-user)"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
LINES = [
    ("203.0.113.7", "07", "/", 200, 5120, FIREFOX, 12),
    ("20.171.207.1", "08", "/docs/intro", 200, 4000, CHATGPT, 142),
    ("160.79.104.1", "09", "/missing", 404, 0, CLAUDE, 3),
    ("44.221.181.1", "10", "/whitepaper.pdf", 200, 183245, PERPLEXITY, 0),
    ("66.249.66.1", "11", "/page", 200, 300, GOOGLEBOT, 5),
    ("203.0.113.7", "12", "/about", 200, 2048, FIREFOX, 9),
]
AI = (CHATGPT, CLAUDE, PERPLEXITY)


def write_log(tmp_path: Path, lines: list[tuple[str, str, str, int, int, str, int]] = LINES) -> str:
    path = tmp_path / "access.log"
    path.write_text(
        "".join(
            f'www.example.com {ip} - - [10/Feb/2024:16:42:{second} -0500] "GET {page} HTTP/1.1" {status} {size} "-" '
            f'"{agent}" {ms}\n'
            for ip, second, page, status, size, agent, ms in lines
        )
    )
    return str(path)


def run(server: FakeMatomo, tmp_path: Path, *extra: str, log: str | None = None):  # type: ignore[no-untyped-def]
    return run_cli(
        f"--url={server.url}",
        "--idsite=1",
        "--retry-delay=0.01",
        "--no-progress",
        "--no-state",
        f"--log-format-regex={REGEX}",
        *extra,
        log or write_log(tmp_path),
        cwd=tmp_path,
        env={"IMPORT_LOGS_TOKEN_AUTH": "secret-token"},
    )


def sent(server: FakeMatomo) -> list[dict[str, str]]:
    """Every request that reached the tracker, decoded."""
    items = [item for r in server.tracking_requests() for item in json.loads(r.body)["requests"]]
    return [dict(parse_qsl(item.lstrip("?"), keep_blank_values=True)) for item in items]


@pytest.fixture
def matomo57() -> FakeMatomo:
    with FakeMatomo() as server:
        server.version = "5.7.1"
        server.plugins.add("BotTracking")
        yield server


def test_ai_assistants_go_to_the_bot_reports_where_matomo_records_them(matomo57: FakeMatomo, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    result = run(matomo57, tmp_path, f"--summary-json={summary}")
    assert result.returncode == 0, result.stderr
    asked = [(c["method"], c.get("pluginName")) for c in matomo57.api_calls]
    assert ("API.getMatomoVersion", None) in asked and ("API.isPluginActivated", "BotTracking") in asked
    bots = {r["ua"]: r for r in matomo57.bot_requests}
    assert set(bots) == set(AI)
    chatgpt, claude, perplexity = bots[CHATGPT], bots[CLAUDE], bots[PERPLEXITY]
    assert chatgpt["recMode"] == "1" and chatgpt["rec"] == "1" and chatgpt["idsite"] == "1"
    assert chatgpt["url"] == "https://www.example.com/docs/intro"
    assert (chatgpt["http_status"], chatgpt["bw_bytes"], chatgpt["pf_srv"]) == ("200", "4000", "142")
    assert chatgpt["source"] == "import-logs" and chatgpt["cdt"] == "2024-02-10 21:42:08"
    assert claude["http_status"] == "404" and "bw_bytes" not in claude  # an error is what the reports show
    assert perplexity["download"] == "https://www.example.com/whitepaper.pdf" and "pf_srv" not in perplexity
    for request in bots.values():  # not a visit: no custom variables, no visitor IP
        assert not {"cvar", "_cvar", "cip", "bots", "dp"} & set(request)
    # The visits: the people only, and no request of theirs in bot mode; the crawler is filtered as before.
    assert [h["ua"] for h in matomo57.hits] == [FIREFOX, FIREFOX]
    assert all("recMode" not in h for h in matomo57.hits)
    assert "3 requests were AI assistants', sent in Matomo's bot mode (not visits)" in result.stdout
    figures = json.loads(summary.read_text())
    assert figures["bot_mode_requests"] == 3 and figures["hits_sent"] == 5


@pytest.mark.parametrize("case", ["older Matomo", "plugin inactive", "no-ai-assistants", "version refused"])
def test_no_request_carries_recmode_where_matomo_does_not_record_it(case: str, tmp_path: Path) -> None:
    with FakeMatomo() as server:
        extra: list[str] = []
        if case != "older Matomo":
            server.version = "5.8.0"
        if case in ("no-ai-assistants", "version refused"):
            server.plugins.add("BotTracking")
        if case == "no-ai-assistants":
            extra.append("--no-ai-assistants")
        if case == "version refused":
            server.version = "not a version"
        result = run(server, tmp_path, *extra)
        assert result.returncode == 0, result.stderr
        requests = sent(server)
        assert requests and all("recMode" not in r for r in requests)
        # As before: the assistants' page views are visits (their user agents are not in the bot list), the 404
        # is an HTTP error, and nothing is counted in bot mode.
        assert [r["ua"] for r in requests] == [FIREFOX, CHATGPT, PERPLEXITY, FIREFOX]
        assert "bot mode" not in result.stdout


def test_asked_for_where_matomo_does_not_record_them_stops_before_sending(tmp_path: Path) -> None:
    with FakeMatomo() as server:
        result = run(server, tmp_path, "--ai-assistants")
        assert result.returncode == 2
        assert "--ai-assistants: Matomo 5.2.0 (bot tracking came with Matomo 5.7) does not record" in result.stderr
        assert server.tracking_requests() == []


def test_enable_bots_keeps_other_bots_as_visits_since_matomo_drops_them_in_bot_mode(
    matomo57: FakeMatomo, tmp_path: Path
) -> None:
    result = run(matomo57, tmp_path, "--enable-bots")
    assert result.returncode == 0, result.stderr
    googlebot = [h for h in matomo57.hits if h["ua"] == GOOGLEBOT]
    assert len(googlebot) == 1 and googlebot[0]["bots"] == "1" and "recMode" not in googlebot[0]
    assert "_cvar" in googlebot[0]
    assert {r["ua"] for r in matomo57.bot_requests} == set(AI)
    assert all(h["bots"] == "1" and "recMode" not in h for h in matomo57.hits)


def test_a_batch_of_bot_requests_matomo_does_not_count_as_tracked_is_not_a_loss(
    matomo57: FakeMatomo, tmp_path: Path
) -> None:
    matomo57.bots_tracked = False
    log = write_log(tmp_path, [line for line in LINES if line[5] in AI])
    result = run(matomo57, tmp_path, "--summary-json=-", log=log)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout[result.stdout.index("{") :])
    assert figures["hits_dropped_by_server"] == 0 and figures["bot_mode_requests"] == 3
    assert len(matomo57.bot_requests) == 3


def test_ai_assistants_is_refused_for_other_backends(tmp_path: Path) -> None:
    result = run_cli(
        "--url=http://127.0.0.1:9",
        "--client-id=c",
        "--idsite=app",
        "--ai-assistants",
        write_log(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "--ai-assistants is for Matomo 5.7+" in result.stderr
