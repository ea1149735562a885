"""The merge step's decision as a pure function: which of a block's hits go on, numbered by their line."""

from import_logs.hits import Hits
from import_logs.pipeline.merge import merge_block
from import_logs.pipeline.worker import BlockResult


def block(indexes: list[int], keys: bool = False) -> BlockResult:
    return BlockResult(
        source=0,
        start=0,
        end=100,
        lines=max(indexes, default=-1) + 1,
        kept=len(indexes),
        hits=Hits(
            lines=[i + 1 for i in indexes],
            items=[f"hit{i}" for i in indexes],
            visitors=[f"v{i}" for i in indexes],
            keys=[f"host{i}" for i in indexes] if keys else [],
        ),
    )


def test_every_hit_goes_on_numbered_from_the_base() -> None:
    m = merge_block(block([0, 2, 3]), 10)
    assert m.hits.lines == [11, 13, 14]
    assert m.hits.items == ["hit0", "hit2", "hit3"]
    assert m.hits.visitors == ["v0", "v2", "v3"]
    assert (m.done_before, m.skipped_by_option, m.over_limit) == ([], 0, 0)


def test_lines_a_previous_run_sent_are_left_out_and_named() -> None:
    m = merge_block(block([0, 1, 2, 3], keys=True), 10, acked={12, 14})
    assert m.hits.lines == [11, 13]
    assert m.hits.items == ["hit0", "hit2"]
    assert m.hits.keys == ["host0", "host2"]
    assert m.done_before == [12, 14]


def test_skip_covers_lines_up_to_its_count() -> None:
    m = merge_block(block([0, 1, 2, 3]), 10, skip=12)
    assert m.hits.lines == [13, 14]
    assert m.skipped_by_option == 2
    # a block wholly past --skip is untouched
    assert merge_block(block([0]), 20, skip=12).hits.lines == [21]


def test_an_acked_line_is_not_counted_as_skipped() -> None:
    m = merge_block(block([0, 1, 2]), 0, acked={1}, skip=2)
    assert (m.done_before, m.skipped_by_option, m.hits.lines) == ([1], 1, [3])


def test_the_request_limit_keeps_the_first_hits() -> None:
    m = merge_block(block([0, 1, 2, 3], keys=True), 0, room=1)
    assert (m.hits.lines, m.hits.items, m.hits.keys, m.over_limit) == ([1], ["hit0"], ["host0"], 3)
    none_left = merge_block(block([0, 1]), 0, room=0)
    assert (none_left.hits.lines, none_left.over_limit) == ([], 2)


def test_the_block_it_reads_is_not_changed() -> None:
    r = block([0, 1, 2])
    merge_block(r, 0, acked={2}, skip=1, room=0)
    assert (r.hits.lines, r.hits.items) == ([1, 2, 3], ["hit0", "hit1", "hit2"])
