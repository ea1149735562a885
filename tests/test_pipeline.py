"""The core in one process: inputs, ordering, counting, and the same requests whatever the parallelism."""

from __future__ import annotations

import ast
import bz2
import gzip
import io
import json
import lzma
import random
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import SAMPLES

from import_logs.config import BackendOptions, Config, FilterOptions, FormatOptions
from import_logs.errors import FormatError, InputError
from import_logs.events import Event, LineRejected, Notice, Progress
from import_logs.pipeline import Importer
from import_logs.stats import Stats

ALL_KINDS = FilterOptions(enable_static=True, enable_bots=True, enable_http_errors=True, enable_http_redirects=True)


def run(
    tmp_path: Path, *inputs: str, stdin: bytes | None = None, **changes: object
) -> tuple[list[dict[str, str]], Stats]:
    out = tmp_path / f"requests-{random.random()}.jsonl"
    config = replace(
        Config(inputs=inputs, workers=1, backend=BackendOptions(idsite="app")),
        save_requests=str(out),
        **changes,
    )  # type: ignore[arg-type]
    stats = Importer(config, stdin=io.BytesIO(stdin) if stdin is not None else None).run()
    return [json.loads(line) for line in out.read_text().splitlines()], stats


def generated_log(path: Path, lines: int, seed: int = 7) -> Path:
    rng = random.Random(seed)
    sample = (SAMPLES / "common_complete.log").read_text().splitlines()
    with path.open("w") as f:
        for i in range(lines):
            line = rng.choice(sample)
            ip = f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 20)}"
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[2].startswith("- "):
                line = f"{parts[0]} {ip} {parts[2]}".replace("16:4", f"{10 + i % 10}:4")
            f.write(line + "\n")
    return path


def per_visitor(requests: list[dict[str, str]]) -> dict[str | None, list[str]]:
    order: dict[str | None, list[str]] = {}
    for r in requests:
        order.setdefault(r.get("cip"), []).append(r["url"] + r["cdt"])
    return order


def test_core_runs_without_click_tqdm_or_httpx(tmp_path: Path) -> None:
    """Parsing and a dry run need no UI and no network library (httpx itself may import click)."""
    code = (
        "import sys; from import_logs.pipeline import Importer; from import_logs.config import Config;"
        f"Importer(Config(inputs=({str(SAMPLES / 'common.log')!r},), workers=2, dry_run=True)).run();"
        "loaded = [m for m in ('click', 'tqdm', 'httpx') if m in sys.modules];"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_only_the_cli_imports_click_or_tqdm() -> None:
    package = Path(__file__).resolve().parent.parent / "import_logs"
    for module in package.rglob("*.py"):
        if module.relative_to(package).parts[0] == "cli":
            continue
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            assert not any(n.split(".")[0] in ("click", "tqdm") for n in names), module


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.log")))
def test_parallel_and_single_process_send_the_same(tmp_path: Path, sample: str) -> None:
    one, _ = run(tmp_path, str(SAMPLES / sample), filters=ALL_KINDS)
    many, _ = run(
        tmp_path,
        str(SAMPLES / sample),
        filters=ALL_KINDS,
        workers=4,
        backend=BackendOptions(idsite="app", recorders=3),
    )
    assert Counter(map(json.dumps, one)) == Counter(map(json.dumps, many))
    assert per_visitor(one) == per_visitor(many)


def test_parallel_matches_single_on_a_generated_log_of_many_blocks(tmp_path: Path) -> None:
    log = generated_log(tmp_path / "gen.log", 5000)
    one, s1 = run(tmp_path, str(log), filters=ALL_KINDS, block_size=4096)
    many, s4 = run(
        tmp_path,
        str(log),
        filters=ALL_KINDS,
        block_size=4096,
        workers=4,
        backend=BackendOptions(idsite="app", recorders=4, payload_size=7),
    )
    assert s1.lines == s4.lines == 5000
    assert Counter(map(json.dumps, one)) == Counter(map(json.dumps, many))
    assert per_visitor(one) == per_visitor(many)


def _visitor(backend: str, request: str) -> str:
    """The visitor of a saved request, as each backend writes it."""
    if backend == "matomo":
        query = json.loads(request).lstrip("?")
        return dict(p.split("=", 1) for p in query.split("&")).get("cip", "")
    return str(json.loads(request).get("ip" if backend == "pirsch" else "cip", ""))


@pytest.mark.parametrize("backend", ["piwikpro", "matomo", "pirsch"])
def test_one_worker_and_four_send_byte_identical_requests_per_visitor_in_order(tmp_path: Path, backend: str) -> None:
    """The same bytes, each visitor's requests in the log's order, whatever the parallelism, for every backend."""
    log = generated_log(tmp_path / "gen.log", 5000)
    saved = []
    for workers, recorders in ((1, 1), (4, 3)):
        out = tmp_path / f"{backend}-{workers}.txt"
        config = Config(
            inputs=(str(log),),
            workers=workers,
            block_size=4096,
            filters=ALL_KINDS,
            save_requests=str(out),
            backend=BackendOptions(name=backend, idsite="1", recorders=recorders, payload_size=7),
        )
        Importer(config).run()
        saved.append(out.read_text().splitlines())
    one, four = saved
    assert len(one) > 4000
    assert Counter(one) == Counter(four)
    order: list[dict[str, list[str]]] = [{}, {}]  # the file is written in the order of sending
    for by_visitor, requests in zip(order, saved, strict=True):
        for request in requests:
            by_visitor.setdefault(_visitor(backend, request), []).append(request)
    assert len(order[0]) > 50
    assert order[0] == order[1]


def test_every_line_is_counted_once(tmp_path: Path) -> None:
    _, stats = run(tmp_path, str(SAMPLES / "common_complete.log"))
    assert stats.lines == 20
    assert stats.lines == stats.sent + sum(stats.skipped.values()) + sum(stats.invalid.values())
    assert stats.skipped == Counter(static=4, bot=2, http_error=2, http_redirect=2)
    assert stats.invalid == Counter(no_match=1)


@pytest.mark.parametrize(("suffix", "opener"), [(".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open)])
def test_compressed_inputs(tmp_path: Path, suffix: str, opener: object) -> None:
    plain = SAMPLES / "common_complete.log"
    packed = tmp_path / f"access{suffix}"
    with opener(packed, "wb") as f:  # type: ignore[operator]
        f.write(plain.read_bytes())
    renamed = tmp_path / "access.log.1"  # recognised by its magic bytes, whatever its name
    renamed.write_bytes(packed.read_bytes())
    expected, _ = run(tmp_path, str(plain))
    assert run(tmp_path, str(packed), workers=2)[0] == expected
    assert run(tmp_path, str(renamed))[0] == expected


def test_stdin_loses_no_line_to_detection(tmp_path: Path) -> None:
    data = (SAMPLES / "ncsa_extended.log").read_bytes()
    from_stdin, stats = run(tmp_path, "-", stdin=data, block_size=512)
    from_file, _ = run(tmp_path, str(SAMPLES / "ncsa_extended.log"))
    assert from_stdin == from_file and stats.lines == 20


def test_globs_are_expanded_and_sorted(tmp_path: Path) -> None:
    for name in ("b.log", "a.log"):
        (tmp_path / name).write_bytes((SAMPLES / "common.log").read_bytes())
    _, stats = run(tmp_path, str(tmp_path / "*.log"))
    assert stats.files == [str(tmp_path / "a.log"), str(tmp_path / "b.log")]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: str(p / "missing.log"), "missing.log: no such file. Check the path and its permissions."),
        (
            lambda p: str(p / "*.nothing"),
            "*.nothing: no file matches this pattern. Check the directory and the pattern.",
        ),
        (lambda p: str(p), "is a directory, not a log file. Name the files, e.g. DIR/*.log."),
    ],
)
def test_input_errors_name_the_file(tmp_path: Path, make: object, message: str) -> None:
    with pytest.raises(InputError) as info:
        run(tmp_path, str(SAMPLES / "common.log"), make(tmp_path))  # type: ignore[operator]
    assert str(info.value).endswith(message)


def test_unreadable_file(tmp_path: Path) -> None:
    log = tmp_path / "secret.log"
    log.write_text("x\n")
    log.chmod(0)
    try:
        log.read_bytes()
        pytest.skip("running as a user who reads everything")
    except PermissionError:
        pass
    with pytest.raises(InputError, match=r"secret\.log: permission denied"):
        run(tmp_path, str(log))


def test_empty_file_is_a_notice(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("\n\n")
    events: list[Event] = []
    config = Config(inputs=(str(empty),), workers=1, dry_run=True)
    stats = Importer(config, on_event=events.append).run()
    assert stats.lines == 0
    assert Notice(f"{empty}: empty, nothing to import") in events


def test_undetectable_file(tmp_path: Path) -> None:
    log = tmp_path / "odd.log"
    log.write_text("hello\nworld\n")
    with pytest.raises(FormatError, match=r"odd\.log: no known format matches"):
        run(tmp_path, str(log))


def test_forced_format_and_unknown_name(tmp_path: Path) -> None:
    _, stats = run(tmp_path, str(SAMPLES / "common_complete.log"), formats=FormatOptions(name="common_vhost"))
    assert stats.formats == {str(SAMPLES / "common_complete.log"): "common_vhost"}
    with pytest.raises(FormatError, match="unknown log format"):
        run(tmp_path, str(SAMPLES / "common.log"), formats=FormatOptions(name="nope"))


def test_rejected_lines_carry_absolute_line_numbers_across_blocks(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    good = (SAMPLES / "common.log").read_text().splitlines()[0]
    log.write_text("\n".join([good] * 50 + ["broken"] + [good] * 50 + ["broken"]) + "\n")
    events: list[Event] = []
    config = Config(inputs=(str(log),), workers=2, dry_run=True, verbose=1, block_size=256)
    Importer(config, on_event=events.append).run()
    rejected = [(e.lineno, e.reason) for e in events if isinstance(e, LineRejected)]
    assert rejected == [(51, "invalid: no_match"), (102, "invalid: no_match")]


def test_undecodable_bytes_are_kept_escaped(tmp_path: Path) -> None:
    log = tmp_path / "latin1.log"
    line = (SAMPLES / "common.log").read_bytes().splitlines()[0].replace(b"GET / ", b"GET /caf\xe9 ")
    log.write_bytes(line + b"\r\n")
    requests, _ = run(tmp_path, str(log))
    assert requests[0]["url"] == "https://no-hostname-found-in-log/caf\\xe9"
    latin, _ = run(tmp_path, str(log), formats=FormatOptions(encoding="latin-1"))
    assert latin[0]["url"] == "https://no-hostname-found-in-log/café"


def test_zstd_input(tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    plain = SAMPLES / "common_complete.log"
    packed = tmp_path / "access.log.zst"
    packed.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    assert run(tmp_path, str(packed))[0] == run(tmp_path, str(plain))[0]


def test_progress_ends_at_the_total_for_compressed_and_resumed_files(tmp_path: Path) -> None:
    """The bar counts compressed bytes of compressed files, and starts a resumed file at its checkpoint."""
    text = generated_log(tmp_path / "plain.log", 3000).read_bytes()
    packed = generated_log(tmp_path / "other.log", 2000, seed=8).read_bytes()
    (tmp_path / "packed.log.gz").write_bytes(gzip.compress(packed))
    state = tmp_path / "state.json"
    config = replace(
        Config(inputs=(str(tmp_path / "packed.log.gz"), str(tmp_path / "plain.log")), workers=1),
        save_requests=str(tmp_path / "out.jsonl"),
        backend=BackendOptions(idsite="app"),
    )
    config = replace(config, state=replace(config.state, path=str(state)))
    seen: list[Event] = []
    Importer(config, on_event=seen.append).run()
    last = [e for e in seen if isinstance(e, Progress)][-1]
    assert last.bytes_done == last.bytes_total == len(text) + (tmp_path / "packed.log.gz").stat().st_size
    with (tmp_path / "plain.log").open("ab") as f:  # the plain file grows by a third: resumed at its checkpoint
        f.write(text[: text.rfind(b"\n", 0, len(text) // 3) + 1])
    seen.clear()
    Importer(replace(config, inputs=(str(tmp_path / "plain.log"),)), on_event=seen.append).run()
    last = [e for e in seen if isinstance(e, Progress)][-1]
    assert last.bytes_done == last.bytes_total == (tmp_path / "plain.log").stat().st_size
    seen.clear()  # and a file with nothing new counts as read
    Importer(config, on_event=seen.append).run()
    assert [e for e in seen if isinstance(e, Progress)] == []  # nothing read: no progress to draw


def test_a_stopped_import_ends_its_own_workers_only(tmp_path: Path) -> None:
    """The shutdown terminated every multiprocessing child of the calling process, not only the pool's (#12)."""
    import multiprocessing
    import time

    from import_logs.errors import Interrupted

    log = generated_log(tmp_path / "big.log", 60_000)
    neighbour = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(30,))
    neighbour.start()
    try:
        config = replace(Config(inputs=(str(log),), workers=2, block_size=64 << 10), dry_run=True)
        importer: Importer

        def stop_at_first_block(event: Event) -> None:
            if isinstance(event, Progress):
                importer.interrupt(2)  # as Ctrl-C does, with blocks still under way in the workers

        importer = Importer(config, on_event=stop_at_first_block)
        with pytest.raises(Interrupted):
            importer.run()
        neighbour.join(1.0)  # a SIGTERM, had it been sent, has ended it by now
        assert neighbour.is_alive()
    finally:
        neighbour.terminate()
        neighbour.join()


def test_destinations_name_the_same_state_files_as_before_the_registry() -> None:
    """A destination names a user's state file: the backend registry (#12) must not change any."""
    import hashlib

    from import_logs.backends import destination
    from import_logs.config import Secret

    def of(**backend: object) -> str | None:
        return destination(Config(inputs=("x",), backend=BackendOptions(**backend)))  # type: ignore[arg-type]

    assert of(url="HTTPS://Example.Piwik.PRO/", idsite="app") == "https://example.piwik.pro/ppms.php#app"
    assert of(url="https://example.piwik.pro") == "https://example.piwik.pro/ppms.php#by-host"
    assert of(name="matomo", url="https://m.example", idsite="1") == "https://m.example/matomo.php#1"
    assert of(name="matomo", url="https://m.example", replay_tracking=True) == "https://m.example/matomo.php#replay"
    assert of(name="pirsch", client_id="c1") == "https://api.pirsch.io/api/v1/hit/batch#c1"
    key = "key-" + hashlib.sha256(b"pa_k").hexdigest()[:12]
    assert of(name="pirsch", client_secret=Secret("pa_k")) == f"https://api.pirsch.io/api/v1/hit/batch#{key}"
    assert of(name="piwikpro") is None  # no --url: no state to keep
