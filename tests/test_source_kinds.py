"""The kinds of source (a plain or compressed file, a stream, an object of a store) and what each answers (#27):
how it is opened, what "done" means for it, whether it has a place in the state, whether workers read it in byte
ranges, whether its start can be read again; and the blocks the planner makes of each, in this process."""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import threading
from pathlib import Path

import pytest

from import_logs.backends import EncodeSpec
from import_logs.checkpoint.state import StateFile
from import_logs.config import BackendOptions, Config
from import_logs.errors import InputError
from import_logs.pipeline.order import logs_of
from import_logs.pipeline.plan import Planner
from import_logs.sources.files import Block, resolve_inputs
from import_logs.sources.kinds import Done, FileSource, ObjectSource, Source, StreamSource, file_paths
from import_logs.sources.objects import ObjectRef
from import_logs.stats import Stats

TEXT = b'10.0.0.1 - - [10/Feb/2024:16:42:00 +0000] "GET /p/1 HTTP/1.1" 200 5 "-" "Mozilla/5.0"\n' * 3
REF = ObjectRef("s3://logs/2024/a.log.gz", "2024/a.log.gz", 40, "etag1", None)


def answers(source: Source) -> dict[str, object]:
    return {
        "done": source.done,
        "in_state": source.in_state,
        "ranges": source.ranges,
        "reopens": source.reopens,
        "compressed": source.compressed,
        "stdin": source.stdin,
        "stored": source.stored,
    }


def test_a_plain_file_is_read_by_the_workers_in_byte_ranges_and_never_done(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(TEXT)
    (source,) = resolve_inputs([str(log)])
    assert source == FileSource(0, str(log), str(log), None, len(TEXT))
    assert answers(source) == {
        "done": Done.NEVER,
        "in_state": True,
        "ranges": True,
        "reopens": True,
        "compressed": False,
        "stdin": False,
        "stored": False,
    }
    assert isinstance(source, FileSource) and source.live
    first, again = source.open(), source.open()
    try:
        assert first.read() == TEXT
        assert again.read(10) == TEXT[:10]  # its start again: a second open takes nothing from the first
    finally:
        first.close()
        again.close()


def test_a_compressed_file_is_read_here_decompressed_and_done_when_read_whole(tmp_path: Path) -> None:
    copy = tmp_path / "access.log.2.gz"
    copy.write_bytes(gzip.compress(TEXT))
    (source,) = resolve_inputs([str(copy)])
    assert source == FileSource(0, str(copy), str(copy), "gzip", copy.stat().st_size)
    assert answers(source) == {
        "done": Done.READ_WHOLE,
        "in_state": True,
        "ranges": False,
        "reopens": True,
        "compressed": True,
        "stdin": False,
        "stored": False,
    }
    assert isinstance(source, FileSource) and not source.live
    stream = source.open()
    assert stream.read() == TEXT
    stream.close()


def test_standard_input_is_a_stream_with_no_place_in_the_state() -> None:
    (source,) = resolve_inputs(["-"])
    assert source == StreamSource(0, "<stdin>")
    assert answers(source) == {
        "done": Done.AT_ITS_END,
        "in_state": False,
        "ranges": False,
        "reopens": False,
        "compressed": False,
        "stdin": True,
        "stored": False,
    }
    assert source.size is None
    stdin = io.BytesIO(TEXT)
    assert source.open(stdin) is stdin  # the run's own standard input, not reopened (nor closed by the reader)
    with pytest.raises(InputError, match="standard input is not available"):
        source.open()


def test_a_named_pipe_is_a_stream_opened_once_by_its_name(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (source,) = resolve_inputs([str(fifo)])  # not opened by resolving (a FIFO waits for its writer)
    assert source == StreamSource(0, str(fifo), str(fifo))
    assert answers(source)["done"] is Done.AT_ITS_END and not source.stdin and not source.in_state

    def write() -> None:
        with open(fifo, "wb") as w:
            w.write(TEXT)

    writer = threading.Thread(target=write)
    writer.start()
    stream = source.open(io.BytesIO(b"not this"))
    try:
        assert stream.read() == TEXT
    finally:
        stream.close()
        writer.join(5)


def test_an_object_is_known_by_its_identity_fetched_by_its_planner_and_done_when_read_whole() -> None:
    source = ObjectSource(3, REF.url, REF, REF.size)
    assert answers(source) == {
        "done": Done.READ_WHOLE,
        "in_state": True,
        "ranges": False,
        "reopens": False,
        "compressed": False,  # known only once its first bytes are read
        "stdin": False,
        "stored": True,
    }
    assert source.ref.identity == f"{REF.url}\0etag1\x0040"
    with pytest.raises(TypeError, match="fetched by its planner"):
        source.open()


def test_each_log_is_a_chain_of_its_files_and_every_other_source_is_alone(tmp_path: Path) -> None:
    for name in ("a.log.1", "a.log", "b.log"):
        (tmp_path / name).write_bytes(TEXT)
    sources: list[Source] = [
        *resolve_inputs([str(tmp_path / "a.log.1"), str(tmp_path / "a.log"), str(tmp_path / "b.log"), "-"]),
        ObjectSource(4, REF.url, REF, REF.size),
    ]
    assert [s.log for s in sources] == [str(tmp_path / "a.log")] * 2 + [str(tmp_path / "b.log"), "<3>", "<4>"]
    assert [[s.index for s in chain] for chain in logs_of(sources)] == [[0, 1], [2], [3], [4]]
    assert file_paths(sources) == {str(tmp_path / n) for n in ("a.log.1", "a.log", "b.log")}


def test_the_kinds_are_values() -> None:
    source = FileSource(0, "/l/a.log", "/l/a.log", None, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        source.size = 2  # type: ignore[misc]
    assert {source, FileSource(0, "/l/a.log", "/l/a.log", None, 1)} == {source}
    kinds: list[Source] = [StreamSource(0, "<stdin>"), FileSource(0, "<stdin>", "<stdin>", None, None)]
    assert kinds[0] != kinds[1]  # the same fields, another kind


# --- what the planner makes of each kind -------------------------------------------------------------------


def blocks(tmp_path: Path, inputs: list[str], stdin: bytes = b"", state: StateFile | None = None) -> list[Block]:
    config = Config(inputs=tuple(inputs), workers=1, backend=BackendOptions(idsite="1"), block_size=256)
    planner = Planner(
        config,
        Stats(),
        lambda e: None,
        state=state,
        ledger=None,
        spec=EncodeSpec("piwikpro", "1", "https://www.example.com"),
        stdin=io.BytesIO(stdin),
    )
    return [job[1] for job in planner.jobs(resolve_inputs(inputs), None) if isinstance(job, tuple)]


def test_a_plain_file_becomes_byte_ranges_the_workers_read(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(TEXT * 5)
    got = blocks(tmp_path, [str(log)])
    assert got and all(b.path == str(log) and b.data is None for b in got)
    assert b"".join(b.read() or b"" for b in got) == TEXT * 5


@pytest.mark.parametrize("kind", ["gzip", "stdin"])
def test_a_compressed_file_and_standard_input_become_blocks_with_their_bytes(tmp_path: Path, kind: str) -> None:
    if kind == "gzip":
        log = tmp_path / "access.log.1.gz"
        log.write_bytes(gzip.compress(TEXT * 5))
        got = blocks(tmp_path, [str(log)])
    else:
        got = blocks(tmp_path, ["-"], stdin=gzip.compress(TEXT * 5))  # a stream's compression from its first bytes
    assert got and all(b.path is None and b.data is not None for b in got)
    assert b"".join(b.data or b"" for b in got) == TEXT * 5


def test_a_stream_has_no_place_in_the_state_a_file_has_one(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(TEXT)
    with StateFile(str(tmp_path / "state.json"), "test") as state:
        blocks(tmp_path, [str(log)], state=state)
        blocks(tmp_path, ["-"], stdin=TEXT, state=state)
        assert [entry.path for entry in state.entries] == [str(log)]
