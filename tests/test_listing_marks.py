"""The compact form of a listed bucket in the state, in one process (issue #26, item 5): the objects done long
ago folded into one mark per pattern, the exceptions (objects not done, recent ones, keys uploaded again), the
listing from after the mark, and a state of the old form (an entry per object) migrated.

A listing is played to :class:`~import_logs.checkpoint.fold.Walk` as the planner plays it: every object in key
order, with its identity (URL, version, size) and its modification time; the clock is given."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from import_logs.checkpoint.fold import Walk
from import_logs.checkpoint.listing import RELIST_EVERY
from import_logs.checkpoint.state import StateFile
from import_logs.errors import StateFileError
from import_logs.sources.objects import key_matcher

PATTERN = "s3://logs/cf/*.gz"
DAY = 86400.0
NOW = 1_800_000_000.0


@dataclass(frozen=True)
class Obj:
    key: str
    modified: float
    etag: str = "e1"

    @property
    def url(self) -> str:
        return f"s3://logs/{self.key}"

    @property
    def identity(self) -> str:
        return f"{self.url}\0{self.etag}\0100"


def objects(count: int, *, first: int = 0, modified: float = NOW - 30 * DAY) -> list[Obj]:
    """Objects named by time (their keys sort as they were written), one a minute."""
    return [Obj(f"cf/E2ABC.{n:06d}.gz", modified + 60 * (n - first)) for n in range(first, first + count)]


_OPEN: list[StateFile] = []


@pytest.fixture(autouse=True)
def _closed() -> Iterator[None]:
    """Every state opened by a test is closed (its lock released) at its end."""
    yield
    while _OPEN:
        _OPEN.pop().__exit__(None, None, None)


def opened(path: Path, destination: str = "https://example#1") -> StateFile:
    state = StateFile(str(path), destination, lock_timeout=0)
    state.__enter__()
    _OPEN.append(state)
    return state


def reopened(state: StateFile) -> StateFile:
    state.save(clean=True)
    state.__exit__(None, None, None)
    _OPEN.remove(state)
    return opened(Path(state.path))


def import_all(state: StateFile, listed: list[Obj]) -> None:
    """What a run does with the objects a walk did not pass over: reads each to its end."""
    for obj in listed:
        entry = state.object_entry(obj.identity) or state.add_object(obj.identity, obj.url)
        state.update(entry, done=True, line=10, offset=1000)


def walk(
    state: StateFile,
    bucket: list[Obj],
    *,
    now: float = NOW,
    settle: float = DAY,
    pattern: str = PATTERN,
    force: bool = False,
) -> tuple[Walk, list[Obj], list[str]]:
    """One listing as the store gives it (from after the mark, the pending keys by name first); the objects to
    read, and the keys listed."""
    w = Walk(state, pattern, lambda p: key_matcher(p)[1], settle=settle, force=force, now=now)
    _, matches = key_matcher(pattern.partition("://")[2].partition("/")[2])
    ordered = sorted(bucket, key=lambda o: o.key)
    after = w.start_after
    listing = [o for o in ordered if o.key in w.pending]
    listing += [o for o in ordered if matches(o.key) and (after is None or o.key > after)]
    todo = [o for o in listing if not w.done(o.key, o.identity, o.modified)]
    w.finish()
    return w, todo, [o.key for o in listing]


def objects_in(state: StateFile) -> int:
    return sum(1 for e in state.entries if e.object)


def test_objects_done_long_ago_fold_into_one_mark_and_the_state_stays_small(tmp_path: Path) -> None:
    state = opened(tmp_path / "state.json")
    old = objects(5000)
    recent = objects(50, first=5000, modified=NOW - 3600)
    bucket = old + recent
    _, todo, _ = walk(state, bucket)
    assert todo == bucket  # the first run reads them all
    import_all(state, todo)
    state = reopened(state)
    size_before = Path(state.path).stat().st_size
    assert objects_in(state) == 5050

    _, todo, _ = walk(state, bucket, now=NOW + 60)  # the next run: nothing new, the old objects folded
    assert todo == []
    state = reopened(state)
    mark = state.listings[PATTERN]
    assert mark.after == old[-1].key and mark.folded == 5000 and not mark.pending
    assert objects_in(state) == 50  # the recent ones keep their entries
    data = json.loads(Path(state.path).read_text())
    assert data["version"] == 2
    assert Path(state.path).stat().st_size < size_before / 50


def test_a_run_after_the_fold_lists_from_the_mark_and_reads_only_the_new_objects(tmp_path: Path) -> None:
    state = opened(tmp_path / "state.json")
    bucket = objects(300)
    import_all(state, walk(state, bucket)[1])
    walk(state, bucket, now=NOW + 60)  # folds
    new = objects(20, first=300, modified=NOW + 100)
    w, todo, listed = walk(state, bucket + new, now=NOW + 200)
    assert w.start_after == bucket[-1].key
    assert listed == [o.key for o in new]  # the 300 before the mark are not even listed
    assert todo == new
    import_all(state, todo)
    w, todo, listed = walk(state, bucket + new, now=NOW + 300)
    assert todo == [] and len(listed) == 20


def test_an_object_not_done_below_the_mark_is_kept_by_name_and_read_again(tmp_path: Path) -> None:
    """A damaged object does not stop the fold: its key is an exception, asked for by every run."""
    state = opened(tmp_path / "state.json")
    bucket = objects(100)
    damaged = bucket[40]
    import_all(state, [o for o in bucket if o is not damaged])
    state.add_object(damaged.identity, damaged.url)  # read, and found damaged: not done
    _, todo, _ = walk(state, bucket, now=NOW + 60)
    assert todo == [damaged]
    state = reopened(state)
    mark = state.listings[PATTERN]
    assert mark.after == bucket[-1].key and mark.pending == [damaged.key]
    assert objects_in(state) == 1  # its entry stays: where a run stopped in it

    w, todo, listed = walk(state, bucket, now=NOW + 120)  # listed from the mark: the damaged one by name
    assert w.start_after == bucket[-1].key and listed == [damaged.key] and todo == [damaged]
    import_all(state, todo)  # read this time
    walk(state, bucket, now=NOW + 120 + RELIST_EVERY)  # the next whole listing folds it too
    assert state.listings[PATTERN].pending == [] and objects_in(state) == 0


def test_an_object_uploaded_late_or_again_under_a_folded_key_is_imported_by_the_next_whole_listing(
    tmp_path: Path,
) -> None:
    state = opened(tmp_path / "state.json")
    bucket = objects(100)
    import_all(state, walk(state, bucket)[1])
    walk(state, bucket, now=NOW + 60)  # folds all 100
    late = Obj("cf/E2ABC.000050-late.gz", NOW + 500)  # a CDN's file delivered hours late, under an older key
    again = Obj(bucket[10].key, NOW + 600, etag="e2")  # an old key uploaded again with new content
    changed = [again if o.key == again.key else o for o in bucket] + [late]

    _, todo, _ = walk(state, changed, now=NOW + 700)  # listed from the mark: neither is seen yet
    assert todo == []
    _, todo, _ = walk(state, changed, now=NOW + 60 + RELIST_EVERY)  # once a day the whole pattern
    assert sorted(todo, key=lambda o: o.key) == [again, late]
    import_all(state, todo)
    _, todo, _ = walk(state, changed, now=NOW + 120 + RELIST_EVERY)
    assert todo == []  # and never twice
    _, todo, _ = walk(state, changed, now=NOW + 120 + 3 * RELIST_EVERY)  # folded in their turn
    assert todo == [] and objects_in(state) == 0


def test_a_recent_object_uploaded_again_is_new_content_at_once(tmp_path: Path) -> None:
    state = opened(tmp_path / "state.json")
    bucket = objects(30) + objects(5, first=30, modified=NOW - 60)
    import_all(state, walk(state, bucket)[1])
    walk(state, bucket, now=NOW + 60)  # the 30 old ones folded, the 5 recent keep their entries
    again = Obj(bucket[32].key, NOW + 100, etag="e2")
    _, todo, _ = walk(state, [again if o.key == again.key else o for o in bucket], now=NOW + 200)
    assert todo == [again]


def test_the_mark_never_moves_back(tmp_path: Path) -> None:
    """A whole listing that stops below the mark (a key there was uploaded again lately) keeps the mark: the objects
    it covers have no entry any more."""
    state = opened(tmp_path / "state.json")
    bucket = objects(100)
    import_all(state, walk(state, bucket)[1])
    walk(state, bucket, now=NOW + 60)
    again = Obj(bucket[5].key, NOW + 100, etag="e2")
    changed = [again if o.key == again.key else o for o in bucket]
    later = NOW + 60 + RELIST_EVERY
    _, todo, _ = walk(state, changed, now=later)
    assert todo == [again]
    assert state.listings[PATTERN].after == bucket[-1].key
    _, todo, _ = walk(state, changed, now=later + 10)  # the others are still covered
    assert todo == []


def test_another_pattern_of_the_same_bucket_does_not_read_folded_objects_again(tmp_path: Path) -> None:
    state = opened(tmp_path / "state.json")
    bucket = objects(50)
    import_all(state, walk(state, bucket)[1])
    walk(state, bucket, now=NOW + 60)
    _, todo, listed = walk(state, bucket, now=NOW + 120, pattern="s3://logs/cf/E2ABC.*")
    assert len(listed) == 50 and todo == []


def test_recent_objects_are_not_folded_and_settle_says_how_recent(tmp_path: Path) -> None:
    state = opened(tmp_path / "state.json")
    bucket = objects(10, modified=NOW - 3600)
    import_all(state, walk(state, bucket)[1])
    walk(state, bucket, now=NOW)  # an hour old: not settled with the default day
    assert objects_in(state) == 10 and state.listings[PATTERN].after == ""
    walk(state, bucket, now=NOW + 1, settle=600)
    assert objects_in(state) == 0 and state.listings[PATTERN].after == bucket[-1].key


def test_force_reimport_reads_everything_and_leaves_the_mark(tmp_path: Path) -> None:
    state = opened(tmp_path / "state.json")
    bucket = objects(20)
    import_all(state, walk(state, bucket)[1])
    walk(state, bucket, now=NOW + 60)
    w, todo, _ = walk(state, bucket, now=NOW + 120, force=True)
    assert w.start_after is None and todo == bucket
    assert state.listings[PATTERN].after == bucket[-1].key


def test_a_state_of_the_old_form_is_migrated_and_one_without_marks_stays_readable_by_older_versions(
    tmp_path: Path,
) -> None:
    """Version 1 kept an entry per object: it loads, and the first whole listing folds it. A state without any mark
    (files only) is still written as version 1, which an older import-logs reads."""
    path = tmp_path / "state.json"
    bucket = objects(2000)
    old = opened(path)
    import_all(old, bucket)
    old.save(clean=True)
    old.__exit__(None, None, None)
    _OPEN.remove(old)
    data = json.loads(path.read_text())
    assert data["version"] == 1 and "listings" not in data
    data["sources"] = [{k: v for k, v in e.items() if k not in ("prefix", "prefix_len")} for e in data["sources"]]
    path.write_text(json.dumps(data))  # as version 1 wrote it

    state = opened(path)
    assert objects_in(state) == 2000
    _, todo, _ = walk(state, bucket, now=NOW)
    assert todo == []  # nothing imported again
    state = reopened(state)
    assert objects_in(state) == 0 and state.listings[PATTERN].folded == 2000
    assert json.loads(path.read_text())["version"] == 2


def test_a_mark_damaged_by_hand_is_named_with_its_field(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 2, "sources": [], "listings": [{"pattern": PATTERN, "before": "soon"}]}))
    with pytest.raises(StateFileError, match=r"listings\[0\]\.before is 'soon', not a date as ISO 8601 text"):
        opened(path)


def test_show_state_names_the_mark_and_reset_state_forgets_it(tmp_path: Path) -> None:
    from import_logs.config import Config, StateOptions
    from import_logs.pipeline import reset_state

    path, out = tmp_path / "state.json", tmp_path / "out.jsonl"
    state = StateFile(str(path), f"file:{out}", lock_timeout=0)
    with state:
        bucket = objects(40)
        import_all(state, walk(state, bucket)[1])
        walk(state, bucket, now=NOW + 60)
        assert f"  {PATTERN}: 40 objects done up to {bucket[-1].key}; listed whole" in "\n".join(state.describe())
        state.save(clean=True)
    said = reset_state(Config(inputs=(), save_requests=str(out), state=StateOptions(path=str(path))))
    assert said == [f"{PATTERN}: forgotten; the next run imports its objects again"]
    state = opened(path, f"file:{out}")
    assert state.listings == {} and walk(state, bucket, now=NOW + 120)[1] == bucket


def test_a_store_that_does_not_list_in_key_order_folds_nothing(tmp_path: Path) -> None:
    """A mark promises that every key below it was seen: only a listing in key order can say so."""
    state = opened(tmp_path / "state.json")
    bucket = objects(30)
    import_all(state, bucket)
    w = Walk(state, PATTERN, lambda p: key_matcher(p)[1], settle=DAY, now=NOW)
    for obj in [*bucket[10:], *bucket[:10]]:
        assert w.done(obj.key, obj.identity, obj.modified)
    w.finish()
    assert PATTERN not in state.listings and objects_in(state) == 30


def test_an_object_imported_through_the_queue_lately_stops_the_fold_until_it_settles(tmp_path: Path) -> None:
    """A queue's object leaves no entry, only the bounded record of recent objects: the mark passes it once its
    time is below the limit (the mark then covers it), never before, or a full record would forget it unfolded."""
    state = opened(tmp_path / "state.json")
    old = objects(3)
    fresh = Obj("cf/E2ABC.000003.gz", NOW - 3600)
    import_all(state, old)
    state.remember([(fresh.url, fresh.etag, None)])
    w = Walk(state, PATTERN, lambda p: key_matcher(p)[1], settle=DAY, now=NOW)
    todo = [o for o in [*old, fresh] if not w.done(o.key, o.identity, o.modified, recent=o is fresh)]
    w.finish()
    assert todo == [] and state.listings[PATTERN].after == old[-1].key  # not past the fresh one
    later = Walk(state, PATTERN, lambda p: key_matcher(p)[1], settle=DAY, now=NOW + 2 * DAY + RELIST_EVERY)
    assert later.done(fresh.key, fresh.identity, fresh.modified, recent=True)
    later.finish()
    assert state.listings[PATTERN].after == fresh.key and state.listings[PATTERN].covers(fresh.key, fresh.modified)
