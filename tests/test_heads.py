"""A source's first lines and line ends (issue #22): a first line longer than the 64 KiB that detection reads,
a W3C ``#Fields:`` header of thousands of fields, lines ended by CR alone, NUL bytes, a piped ``.gz``.

The real CLI, with its real worker processes, against the fake server on 127.0.0.1.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import SAMPLES, SECRET_ENV, piwik_args, run_cli
from fake_server import FakePiwikPro
from test_resume import expect, log_lines

LONG = 70_000  # longer than the 64 KiB head that detection reads


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def imported(fake: FakePiwikPro) -> Counter[str]:
    """'tag/n' → how many times the server accepted that line (its query left out)."""
    return Counter(h["url"].split("/p/", 1)[1].split("?")[0] for h in fake.hits)


def long_hit(tag: str) -> str:
    """A valid line whose query string makes it longer than 64 KiB."""
    return log_lines(tag, 0, 1).replace(f"/p/{tag}/0 ", f"/p/{tag}/0?q={'x' * LONG} ")


@pytest.mark.parametrize("forced", [None, "common_complete"])
@pytest.mark.parametrize("first", ["hit", "junk"])
def test_a_first_line_longer_than_the_head_is_passed_over_by_detection(
    fake: FakePiwikPro, tmp_path: Path, first: str, forced: str | None
) -> None:
    log = tmp_path / "access.log"
    log.write_text((long_hit("a") if first == "hit" else "x" * LONG + "\n") + log_lines("a", 1, 30))
    extra = [f"--log-format-name={forced}"] if forced else []
    result = run_cli(*piwik_args(fake, "--summary-json=-", *extra, str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    figures = summary(result)
    assert figures["lines_parsed"] == 31
    if first == "hit":  # read as it is read in the middle of a file
        assert imported(fake) == Counter(expect("a", 0, 31))
    else:  # counted as such a line is anywhere else
        assert imported(fake) == Counter(expect("a", 1, 30))
        assert figures["invalid"]["no_match"] == 1  # type: ignore[index]


def test_a_file_of_overlong_lines_says_why_its_format_is_not_detected(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(long_hit("b") * 3)
    detected = run_cli(*piwik_args(fake, str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert detected.returncode == 3
    assert "its first 3 line(s) are longer than 64 KiB" in detected.stderr
    assert "--log-format-name" in detected.stderr
    forced = run_cli(*piwik_args(fake, "--log-format-name=common_complete", str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert forced.returncode == 0, forced.stderr
    assert imported(fake) == Counter({"b/0": 3})


def _long_first_hit(text: str) -> str:
    """A W3C sample whose first data line has a path longer than 64 KiB."""
    lines = text.splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    for blank in (" ", "\t"):
        if f"{blank}/{blank}" in lines[first]:
            lines[first] = lines[first].replace(f"{blank}/{blank}", f"{blank}/{'a' * LONG}{blank}", 1)
            return "".join(lines)
    raise AssertionError("no / path in the first line")


@pytest.mark.parametrize("fmt", ["w3c_extended", "iis", "amazon_cloudfront"])
def test_a_w3c_log_with_an_overlong_first_hit_is_imported(fake: FakePiwikPro, tmp_path: Path, fmt: str) -> None:
    plain = tmp_path / "plain.log"
    plain.write_text((SAMPLES / f"{fmt}.log").read_text())
    reference = run_cli("--dry-run", "--no-progress", "--summary-json=-", str(plain), cwd=tmp_path)
    log = tmp_path / f"{fmt}.log"
    log.write_text(_long_first_hit(plain.read_text()))
    result = run_cli(*piwik_args(fake, "--quiet", "--summary-json=-", str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    figures, expected = summary(result), summary(reference)
    assert figures["formats"] == {str(log): fmt}
    assert (figures["lines_parsed"], figures["hits_kept"]) == (expected["lines_parsed"], expected["hits_kept"])
    assert len(fake.hits) == expected["hits_kept"]
    assert any("/aaaaaaaa" in hit["url"] for hit in fake.hits)  # its path cut to 1,024 characters, as any


def test_a_w3c_fields_header_of_thousands_of_fields_is_read(fake: FakePiwikPro, tmp_path: Path) -> None:
    """A header line, not a hit line: kept whole, however long (up to 16 MiB), and the fields read from it."""
    names = " ".join(f"x-custom-{n}" for n in range(8_000))
    values = " ".join("-" for _ in range(8_000))
    rows = "".join(f"2024-02-10 21:42:{n:02d} 203.0.113.{n} GET /p/w/{n} 200 {values}\n" for n in range(1, 21))
    log = tmp_path / "wide.log"
    log.write_text(f"#Version: 1.0\n#Fields: date time c-ip cs-method cs-uri-stem sc-status {names}\n{rows}")
    assert len(log.read_text().splitlines()[1]) > 64 << 10
    result = run_cli(*piwik_args(fake, "--summary-json=-", str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    assert summary(result)["formats"] == {str(log): "w3c_extended"}
    assert imported(fake) == Counter(expect("w", 1, 20))


def test_cr_line_ends_are_line_ends(fake: FakePiwikPro, tmp_path: Path) -> None:
    """A file whose lines end with CR alone is 10,000 lines, not one; resumed and compressed alike."""
    log = tmp_path / "mac.log"
    log.write_bytes(log_lines("c", 1, 10_000).replace("\n", "\r").encode())
    args = piwik_args(fake, "--summary-json=-", str(log))
    first = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
    assert first.returncode == 0, first.stderr
    assert "mac.log: its lines end with a carriage return alone (CR, no LF); read as line ends" in first.stderr
    assert summary(first)["lines_parsed"] == 10_000
    with log.open("ab") as f:  # grown: only the new lines
        f.write(log_lines("c", 10_001, 50).replace("\n", "\r").encode())
    second = run_cli(*args, cwd=tmp_path, env=SECRET_ENV)
    assert second.returncode == 0, second.stderr
    (tmp_path / "old.log.gz").write_bytes(gzip.compress(log_lines("g", 1, 300).replace("\n", "\r").encode()))
    third = run_cli(*piwik_args(fake, str(tmp_path / "old.log.gz")), cwd=tmp_path, env=SECRET_ENV)
    assert third.returncode == 0, third.stderr
    assert imported(fake) == Counter(expect("c", 1, 10_050) | expect("g", 1, 300))


def test_a_stream_is_decompressed_and_its_cr_line_ends_read(fake: FakePiwikPro, tmp_path: Path) -> None:
    """``gzip -c access.log | import-logs -``, and a CR-only stream."""
    env = {**os.environ, **SECRET_ENV}
    for tag, data in (
        ("z", gzip.compress(log_lines("z", 1, 500).encode())),
        ("r", log_lines("r", 1, 400).replace("\n", "\r").encode()),
    ):
        piped = subprocess.run(
            [sys.executable, "-m", "import_logs", *piwik_args(fake, "-")],
            input=data,
            capture_output=True,
            env=env,
            timeout=60,
            cwd=tmp_path,
        )
        assert piped.returncode == 0, piped.stderr.decode()
        assert expect(tag, 1, 500 if tag == "z" else 400) <= set(imported(fake))
    assert max(imported(fake).values()) == 1


def test_a_line_with_a_nul_byte_is_counted_not_sent(fake: FakePiwikPro, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    text = log_lines("n", 1, 20)
    broken = log_lines("n", 21, 2).replace("/p/n/21", "/p/n/\x00\x0021").replace("Mozilla", "Moz\x00illa")
    log.write_text(text + broken)
    result = run_cli(*piwik_args(fake, "--summary-json=-", str(log)), cwd=tmp_path, env=SECRET_ENV)
    assert result.returncode == 0, result.stderr
    assert summary(result)["invalid"]["nul_byte"] == 2  # type: ignore[index]
    assert imported(fake) == Counter(expect("n", 1, 20))
    assert not any("\x00" in value for hit in fake.hits for value in hit.values())


def test_cr_lines_keeps_lengths_and_crlf_pairs() -> None:
    from import_logs.sources.heads import CrLines

    data = b"a\rbb\r\ncc\r\rd\r"
    for size in (1, 2, 3, 5, -1):
        stream = CrLines(io.BytesIO(data))
        out = b""
        while chunk := stream.read(size):
            assert size < 0 or len(chunk) <= size
            out += chunk
        assert out == b"a\nbb\r\ncc\n\nd\n"


def test_the_head_sample_passes_over_overlong_lines_and_keeps_directives() -> None:
    from import_logs.sources.heads import sample

    header = b"#Fields: " + b"f " * 40_000 + b"\n"
    head = sample(io.BytesIO(b"x" * LONG + b"\n" + header + b"a\nb"), "utf-8")
    assert head.overlong == 1 and not head.cr
    assert [len(line) for line in head.lines] == [len(header) - 1, 1, 1]
