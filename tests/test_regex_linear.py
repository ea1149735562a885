"""Every bundled pattern runs in time linear in the line's length (issue #15, item 5c).

A field that can match nothing between two ``\\s+`` made IIS cubic over a run of blanks (1 KB: 9 s) and
CloudFront and OVH quadratic. Each format's regex (W3C ones built from their sample's ``#Fields:``) is run on
its sample line with 1 MB of blanks, tabs, quotes, brackets or backslashes put in at every field separator
and in the middle of every field.
Python's regex engine cannot be interrupted, so each format runs in a process of its own that is killed at
a deadline: a pattern that backtracks over the line shows as a timeout, not as a hung suite. The deadline is
a bound against hangs, far above the time a linear match takes; no timing is compared.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import SAMPLES

from import_logs.parsing.formats import builtin_formats

FORMATS = [name for name, f in builtin_formats().items() if f.kind != "json"]
#: Per line, and for a whole format: bounds against a hang (a linear 1 MB match takes well under 0.5 s).
LINE_DEADLINE = 5.0
FORMAT_DEADLINE = 60.0

_BATTERY = r"""
import json, sys, time
from pathlib import Path
from import_logs.parsing.detect import detect
from import_logs.parsing.formats import compile_regex, get_format
name, samples = sys.argv[1], Path(sys.argv[2])
text = (samples / f"{name}.log").read_text(encoding="utf-8")
fmt = get_format(name)
if fmt.kind == "w3c":
    fmt = detect(text.splitlines(), path=name)
match = compile_regex(fmt.regex).match
sample = next(line for line in text.splitlines() if line and not line.startswith("#"))
seps = [-1, *(i for i, c in enumerate(sample) if c in " \t"), len(sample)]
middles = [(a + b + 1) // 2 for a, b in zip(seps, seps[1:])]
cuts = sorted({*seps[1:-1], *middles, 0, len(sample)})  # a wider separator, and a field broken in two
worst, where = 0.0, ""
for fill in (" ", "\t", '"', "[", '\\"'):
    block = fill * ((1 << 20) // len(fill))
    for at in cuts:
        started = time.perf_counter()
        match(sample[:at] + block + sample[at:])
        took = time.perf_counter() - started
        if took > worst:
            worst, where = took, f"1 MB of {fill!r} at column {at}"
print(json.dumps({"worst": worst, "where": where}))
"""


@pytest.mark.parametrize("name", FORMATS)
def test_hostile_megabyte_lines_match_in_linear_time(name: str) -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", _BATTERY, name, str(SAMPLES)],
            capture_output=True,
            text=True,
            timeout=FORMAT_DEADLINE,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: its regex did not finish 1 MB hostile lines in {FORMAT_DEADLINE:g} s (backtracking)")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["worst"] < LINE_DEADLINE, f"{name}: {result['where']} took {result['worst']:.1f} s"


def test_detection_is_not_slowed_by_a_long_first_line() -> None:
    """An ELB-shaped 30 KB first line runs every candidate pattern over it: each must stay linear."""
    code = r"""
import sys
from pathlib import Path
from import_logs.parsing.detect import detect
samples = Path(sys.argv[1])
elb = next(line for line in (samples / "elb.log").read_text().splitlines() if line)
common = (samples / "common.log").read_text().splitlines()
for first in (elb.replace(" ", " " * 2000), elb.replace("Mozilla", "M" + " x" * 15000), "1:" * 15000 + elb):
    detect([first, *common], path="x")
"""
    try:
        done = subprocess.run([sys.executable, "-c", code, str(SAMPLES)], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("detection with a 30 KB first line did not end within 60 s (backtracking)")
    assert done.returncode == 0, done.stderr
