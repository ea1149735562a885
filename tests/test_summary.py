"""The summary and the settings file, as plain functions (#12): no CLI process, no server."""

from __future__ import annotations

import os
import pickle
from collections import Counter
from pathlib import Path

import pytest

from import_logs.cli.settings_file import load
from import_logs.errors import ConfigError
from import_logs.reasons import Invalid, Skip
from import_logs.stats import Stats, result_line, summary_dict, summary_text


def figures(**changes: object) -> Stats:
    stats = Stats(files=["a.log"], formats={"a.log": "common"}, lines=100, kept=60, **changes)  # type: ignore[arg-type]
    stats.skipped = Counter({Skip.STATIC: 30})
    stats.invalid = Counter({Invalid.NO_MATCH: 10})
    return stats


def test_every_line_is_in_one_bucket() -> None:
    stats = figures()
    stats.add_sent(50, rejected=[("a.log", 7, "invalid")], dropped=2, maybe_twice=5)
    d = summary_dict(stats)
    assert d["lines_parsed"] == d["hits_kept"] + d["skipped_total"] + d["invalid_total"]
    assert d["hits_kept"] == d["hits_sent"] + d["hits_rejected"] + d["hits_dropped_by_server"] + d["hits_not_sent"]
    assert (d["hits_sent"], d["hits_not_sent"], d["hits_maybe_stored_twice"]) == (47, 10, 5)
    assert d["rejected_lines"] == [{"file": "a.log", "line": 7, "reason": "invalid"}]


def test_what_each_mode_says() -> None:
    sent = summary_text(figures())
    assert "requests imported successfully" in sent and "Requests imported per second" in sent
    dry = summary_text(figures(dry_run=True))
    assert "60 requests kept by the filters (dry run: nothing was sent)" in dry and "imported" not in dry
    saved = summary_text(figures(saved_to="out.jsonl"))
    assert "requests written to out.jsonl (--save-requests: nothing sent)" in saved
    assert "imported" not in saved.replace("already imported", "")
    assert result_line(figures(dry_run=True)).startswith("import-logs: 100 new lines in 1 file: 60 hits kept")


def test_streams_and_unfinished_files_are_said() -> None:
    stats = figures(state_file="/s.json", streams=["<stdin>"], unreadable={"b.log.gz": "ends early"})
    stats.files = ["<stdin>"]
    text = summary_text(stats)
    assert "<stdin>: a stream, with no place in the state: a re-run sends its lines again" in text
    assert "lines skipped as already imported" not in text  # every file was a stream
    assert "b.log.gz: ends early" in text
    assert "1 file not read to their end" in result_line(stats)


def private(path: Path, text: str) -> str:
    path.write_text(text)
    os.chmod(path, 0o600)
    return str(path)


def test_the_settings_file_keys_and_values(tmp_path: Path) -> None:
    settings = load(
        private(
            tmp_path / "s.toml",
            'url = "https://trueblue.example"  # true in a string stays text\n'
            'client-secret = \'x\'\nrecorders = 2\nexclude-path = ["/a", "/b"]\nenable-bots = true\n',
        )
    )
    assert settings == {
        "url": "https://trueblue.example",
        "client_secret": "x",
        "recorders": 2,
        "exclude_path": ["/a", "/b"],
        "enable_bots": True,
    }


def test_a_settings_file_with_a_secret_that_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('token-auth = "t"\n')
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match=f"chmod 600 {path}"):
        load(str(path))
    with pytest.raises(ConfigError, match="tables are not used"):
        load(private(tmp_path / "t.toml", '[import]\nurl = "x"\n'))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(private(tmp_path / "u.toml", "url = \n"))


def test_each_reason_is_its_key_and_has_a_text() -> None:
    for kind in (Skip, Invalid):
        keys = [reason.value for reason in kind]
        assert len(keys) == len(set(keys))
        for reason in kind:
            assert reason == reason.value and str(reason) == f"{reason}" == reason.value
            assert reason.text and pickle.loads(pickle.dumps(reason)) is reason
    assert not set(Skip) & set(Invalid)
    counted = Counter({Skip.BOT: 2})
    assert counted["bot"] == 2  # a member and its key are one dict key


def test_the_summary_lists_every_reason_by_its_key() -> None:
    stats = figures()
    stats.skipped[Skip.REQUEST_LIMIT] += 1
    d = summary_dict(stats)
    assert list(d["skipped"]) == [reason.value for reason in Skip]
    assert list(d["invalid"]) == [reason.value for reason in Invalid]
    assert all(type(key) is str for key in [*d["skipped"], *d["invalid"]])
    assert (d["skipped"]["static"], d["skipped"]["request_limit"], d["invalid"]["no_match"]) == (30, 1, 10)
    text = summary_text(stats)
    assert f"1 {Skip.REQUEST_LIMIT.text}" in text and f"10 invalid log lines: {Invalid.NO_MATCH.text}" in text


def test_the_quiet_line_says_one_and_many_as_words_do() -> None:
    """#22 item 16: "1 new lines in 5 file(s)"."""
    one = figures()
    one.files, one.lines, one.kept = ["a.log", "b.log", "c.log", "d.log", "e.log"], 1, 1
    one.add_sent(1)
    assert result_line(one).startswith("import-logs: 1 new line in 5 files: 1 hit sent, 30 skipped")
    many = figures(unreadable={"b.log.gz": "ends early", "c.log.gz": "ends early"})
    many.lines, many.kept = 1204, 2
    many.add_sent(2)
    assert result_line(many).startswith("import-logs: 1,204 new lines in 1 file: 2 hits sent")
    assert "2 files not read to their end" in result_line(many)
