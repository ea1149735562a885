"""W3C logs: fields from #Fields:, a new #Fields: in the middle of a file, header-only files, the --w3c options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SAMPLES

from import_logs.cli import main
from import_logs.config import BackendOptions, Config, FormatOptions, StateOptions, W3COptions
from import_logs.errors import ExitCode, FormatError
from import_logs.events import Event, Notice
from import_logs.pipeline import Importer

FIELDS_A = "#Fields: date time c-ip cs-method cs-uri-stem sc-status sc-bytes time-taken cs(User-Agent)"
FIELDS_B = "#Fields: time date cs-uri-stem c-ip sc-status cs-method time-taken sc-bytes cs(User-Agent) cs(Referer)"


def line_a(n: int) -> str:
    return f"2024-02-10 10:00:{n:02d} 198.51.100.{n} GET /a/{n} 200 100 15 Mozilla/5.0+test"


def line_b(n: int) -> str:
    return f"10:30:{n:02d} 2024-02-10 /b/{n} 198.51.100.{n} 200 GET 25 100 Mozilla/5.0+test https://r.example/"


def restart_log(path: Path, count: int = 40) -> Path:
    lines = ["#Software: Microsoft Internet Information Services 10.0", FIELDS_A]
    lines += [line_a(n) for n in range(count)]
    lines += ["#Software: Microsoft Internet Information Services 10.0", "#Date: 2024-02-10 10:30:00", FIELDS_B]
    lines += [line_b(n) for n in range(count)]
    path.write_text("\n".join(lines) + "\n")
    return path


def imported(tmp_path: Path, *inputs: str, **changes: object) -> tuple[list[dict[str, str]], list[Event]]:
    out = tmp_path / "out.jsonl"
    config = Config(
        inputs=inputs,
        workers=2,
        block_size=512,
        backend=BackendOptions(idsite="app"),
        save_requests=str(out),
        **changes,
    )  # type: ignore[arg-type]
    events: list[Event] = []
    Importer(config, on_event=events.append).run()
    return [json.loads(line) for line in out.read_text().splitlines()], events


def test_a_new_fields_line_in_the_middle_is_followed(tmp_path: Path) -> None:
    requests, _ = imported(tmp_path, str(restart_log(tmp_path / "u_ex240210.log")))
    urls = sorted(r["url"] for r in requests)
    assert urls == sorted(
        [f"https://no-hostname-found-in-log/a/{n}" for n in range(40)]
        + [f"https://no-hostname-found-in-log/b/{n}" for n in range(40)]
    )
    b5 = next(r for r in requests if r["url"].endswith("/b/5"))
    assert (b5["cdt"], b5["cip"], b5["gt_ms"], b5["urlref"], b5["ua"]) == (
        "2024-02-10 10:30:05",
        "198.51.100.5",
        "25",
        "https://r.example/",
        "Mozilla/5.0 test",
    )


def test_resuming_after_a_fields_change_uses_the_fields_in_effect(tmp_path: Path) -> None:
    log = restart_log(tmp_path / "u_ex240210.log", count=10)
    state = StateOptions(path=str(tmp_path / "state.json"))
    first, _ = imported(tmp_path, str(log), state=state)
    with log.open("a") as f:
        f.write("\n".join(line_b(n) for n in range(10, 15)) + "\n")
    second, _ = imported(tmp_path, str(log), state=state)
    assert sorted(r["url"].rsplit("/", 2)[-2:][1] for r in second[len(first) :]) == sorted(
        str(n) for n in range(10, 15)
    )
    assert all("/b/" in r["url"] for r in second[len(first) :])


def test_a_file_of_only_headers_ends_cleanly(tmp_path: Path) -> None:
    log = tmp_path / "empty_iis.log"
    log.write_text("#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n" + FIELDS_A + "\n\n")
    requests, events = imported(tmp_path, str(log))
    assert requests == []
    assert Notice(f"{log}: only W3C headers, nothing to import") in events


def test_forced_iis_without_a_header_needs_the_fields(tmp_path: Path) -> None:
    log = tmp_path / "headerless.log"
    log.write_text("\n".join(line_a(n) for n in range(3)) + "\n")
    with pytest.raises(FormatError, match="no #Fields: line in its first lines"):
        imported(tmp_path, str(log), formats=FormatOptions(name="iis"))
    requests, _ = imported(tmp_path, str(log), formats=FormatOptions(name="iis", w3c=W3COptions(fields=FIELDS_A)))
    assert [r["url"].rsplit("/", 1)[1] for r in requests] == ["0", "1", "2"]
    assert requests[0]["gt_ms"] == "15"  # IIS: time-taken in milliseconds


def invoke(*args: str) -> list[dict[str, str]]:
    result = CliRunner().invoke(main, ["--workers=1", "--save-requests=-", "--idsite=a", *args])
    assert result.exit_code == ExitCode.OK, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_w3c_options(tmp_path: Path) -> None:
    log = tmp_path / "custom.log"
    log.write_text(
        "#Fields: date-local time-local c-ip cs-uri-stem sc-status time-taken x-custom\n"
        "2024-02-10 10:00:00 198.51.100.1 /p 200 250 ab12\n"
    )
    args = ["--log-format-name=w3c_extended", "--w3c-map-field=date-local=date,time-local=time"]
    assert invoke(*args, str(log))[0]["gt_ms"] == "250000"  # seconds by default
    assert invoke(*args, "--w3c-time-taken-millisecs", str(log))[0]["gt_ms"] == "250"
    tagged = invoke(*args, "--w3c-field-regex=x-custom=(?P<userid>[a-z]+\\d+)", str(log))
    assert tagged[0]["uid"] == "ab12"
    wrong = CliRunner().invoke(main, ["--dry-run", "--w3c-field-regex=x-custom=\\S+", str(log)])
    assert wrong.exit_code == ExitCode.USAGE
    assert "the regex needs a named group" in wrong.stderr


def test_cloudfront_sample_decodes_its_user_agent_twice() -> None:
    first = invoke(str(SAMPLES / "amazon_cloudfront.log"))[0]
    assert first["ua"] == "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
    assert first["url"] == "https://www.example.com/"
