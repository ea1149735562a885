"""The per-hit record of the stages (#27): one type whose columns every stage carries, the hit time among them."""

from __future__ import annotations

import pickle
import threading
from datetime import datetime, timezone

from import_logs.backends import Batch, EncodeSpec, SendResult
from import_logs.config import FilterOptions, TrackingOptions
from import_logs.hits import COLUMNS, Hits
from import_logs.parsing.formats import builtin_formats
from import_logs.pipeline.lanes import Lanes
from import_logs.pipeline.merge import merge_block
from import_logs.pipeline.worker import WorkContext, process_block
from import_logs.sources.files import Block

LINES = (
    b'192.0.2.1 - - [10/Feb/2024:13:55:36 +0100] "GET /a HTTP/1.1" 200 10 "-" "Mozilla/5.0"\n'
    b"not a log line\n"
    b'192.0.2.2 - - [10/Feb/2024:13:55:37 +0100] "GET /b HTTP/1.1" 200 10 "-" "Mozilla/5.0"\n'
    b'192.0.2.1 - - [10/Feb/2024:13:55:37 +0100] "GET /c HTTP/1.1" 200 10 "-" "Mozilla/5.0"\n'
)


def sample(n: int) -> Hits:
    return Hits(
        lines=list(range(1, n + 1)),
        items=[f"hit{k}" for k in range(n)],
        visitors=[f"v{k % 3}" for k in range(n)],
        times=[1_700_000_000.0 + k for k in range(n)],
    )


def test_the_operations_keep_every_column_aligned() -> None:
    hits = sample(5)
    picked = hits.select([0, 3])
    assert (picked.lines, picked.items, picked.times, picked.keys) == ([1, 4], ["hit0", "hit3"], [1.7e9, 1.7e9 + 3], [])
    assert hits.select([2]).visitors == ["v2"] and len(hits.select([])) == 0
    assert hits.head(2) == Hits([1, 2], ["hit0", "hit1"], ["v0", "v1"], [], [1.7e9, 1.7e9 + 1])
    placed = hits.placed(source=3, base=100)
    assert (placed.lines, placed.sources, placed.items) == ([101, 102, 103, 104, 105], [3] * 5, hits.items)
    assert hits.lines == [1, 2, 3, 4, 5] and hits.sources == []  # the block's own hits are not changed
    taken = placed.cut(2)
    assert (taken.lines, placed.lines, len(placed)) == ([101, 102], [103, 104, 105], 3)
    taken.extend(placed)
    assert taken.lines == [101, 102, 103, 104, 105] and taken.times == hits.times
    assert pickle.loads(pickle.dumps(taken)) == taken


def test_every_column_is_carried_by_every_operation() -> None:
    """A field added to COLUMNS needs nothing more: each operation works on all of them."""
    full = Hits(*([k] for k in range(len(COLUMNS))))
    for out in (full.select([0]), full.head(1), full.copy(), pickle.loads(pickle.dumps(full))):
        assert [getattr(out, name) for name in COLUMNS] == [[k] for k in range(len(COLUMNS))]


def test_the_worker_gives_each_kept_hit_its_time_and_the_batch_carries_it() -> None:
    spec = EncodeSpec(backend="piwikpro", idsite="1", main_url="https://www.example.com")
    ctx = WorkContext(builtin_formats()["common"], FilterOptions(), spec)
    result = process_block(ctx, Block(source=0, start=0, end=len(LINES), data=LINES))
    stamp = datetime(2024, 2, 10, 12, 55, 36, tzinfo=timezone.utc).timestamp()
    assert result.hits.lines == [1, 3, 4]
    assert result.hits.times == [stamp, stamp + 1, stamp + 1]
    assert result.hits.visitors == ["192.0.2.1", "192.0.2.2", "192.0.2.1"]
    merged = merge_block(pickle.loads(pickle.dumps(result)), 10)
    assert (merged.hits.lines, merged.hits.sources) == ([11, 13, 14], [0, 0, 0])
    batches: list[Batch] = []

    def send(batch: Batch) -> SendResult | None:
        batches.append(batch)
        return None

    lanes = Lanes(2, 10, send, lambda batch, _: None, threading.Event(), ["access.log"])
    assert lanes.add(merged.hits)
    lanes.close()
    got = sorted((line, time) for b in batches for line, time in zip(b.hits.lines, b.hits.times, strict=True))
    assert got == [(11, stamp), (13, stamp + 1), (14, stamp + 1)]
    assert sorted(ref for b in batches for ref in b.refs) == [(0, 11), (0, 13), (0, 14)]


def test_a_dry_run_carries_no_hits() -> None:
    spec = EncodeSpec(backend="piwikpro", idsite="1", main_url="https://www.example.com", tracking=TrackingOptions())
    ctx = WorkContext(builtin_formats()["common"], FilterOptions(), spec, encode_hits=False)
    result = process_block(ctx, Block(source=0, start=0, end=len(LINES), data=LINES))
    assert (result.kept, len(result.hits)) == (3, 0)
