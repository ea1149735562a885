"""Behaviour-neutral changes, checked: the requests, summaries and -v lines of this tree against a git revision.

    python bench/same_requests.py --against f9d4019      # every case on both trees; differences are printed
    python bench/same_requests.py                        # this tree only: one digest per case

Each case is one run of the real command over every bundled sample log, written with --save-requests (nothing
is sent), for every backend and a set of option combinations (filters, custom variables, dimensions, privacy,
--skip); the defaults also run over half of the samples first, with a state. What is compared: the saved
requests byte for byte, the --summary-json figures less the clock's, and stdout/stderr with -v, their numbers
of seconds and rates masked. Exit 1 when a case differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(str(p) for p in (ROOT / "sample_logs").glob("*.log"))
BACKENDS = {
    "piwikpro": ["--backend=piwikpro", "--idsite=app-1"],
    "matomo": ["--backend=matomo", "--idsite=1"],
    "pirsch": ["--backend=pirsch", "--log-hostname=www.example.com"],
}
OPTIONS = {
    "defaults": [],
    "everything": ["--enable-http-errors", "--enable-http-redirects", "--enable-bots", "--enable-static"],
    "filters": [
        "--exclude-path=/static/*",
        "--exclude-status=404",
        "--useragent-exclude=curl",
        "--exclude-method=POST",
    ],
    "cvars": ["--regex-group-to-page-cvar=status=Status", "--regex-group-to-visit-cvar=user_agent=UA"],
    "dimensions": ["--dimension=bot=1,http-status=2,http-method=3", "--enable-bots"],
    "privacy": [
        "--anonymize-ip=2",
        "--strip-query-param=id",
        "--hash-user-id",
        "--hash-salt=s",
        "--exclude-ip=10.0.0.0/8",
    ],
    "skip": ["--skip=5", "--strip-query-string"],
}
#: The lines of the summary that the clock decides.
CLOCK = re.compile(r"^( *(?:Total time|[A-Z][a-z ]+ per second):).*$", re.M)
CLOCK_KEYS = {"elapsed_seconds", "lines_per_second", "hits_per_second", "state_file"}


def run(tree: Path, backend: str, option: str, work: Path) -> str:
    """One case on one tree: a digest of what it wrote, and the text it was made from for a diff."""
    out = work / "requests.jsonl"
    summary = work / "summary.json"
    state = work / "state"
    env = {**os.environ, "PYTHONPATH": str(tree), "IMPORT_LOGS_STATE_DIR": str(state), "TZ": "Pacific/Auckland"}
    base = [sys.executable, "-m", "import_logs", "--workers=2", "-v", "--no-progress", *BACKENDS[backend]]
    base += OPTIONS[option]
    texts = []
    steps = [SAMPLES[: len(SAMPLES) // 2], SAMPLES] if option == "defaults" else [SAMPLES]
    for inputs in steps:
        done = subprocess.run(
            [*base, f"--save-requests={out}", f"--summary-json={summary}", *inputs],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        figures = json.loads(summary.read_text()) if summary.exists() else {}
        figures = {k: v for k, v in figures.items() if k not in CLOCK_KEYS}
        texts += [
            f"exit {done.returncode}",
            CLOCK.sub(r"\1 <n>", done.stdout.replace(str(work), "<work>")),
            CLOCK.sub(r"\1 <n>", done.stderr.replace(str(work), "<work>")),
            json.dumps(figures, sort_keys=True),
            out.read_text() if out.exists() else "",
        ]
    return "\n".join(texts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", metavar="REV", help="compare with git revision REV")
    opts = parser.parse_args()
    other: Path | None = None
    if opts.against:
        other = Path(tempfile.mkdtemp(prefix="same-requests-"))
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(other), opts.against], check=True
        )
    differ = runs = 0
    try:
        for backend in BACKENDS:
            for option in OPTIONS:
                with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
                    mine = run(ROOT, backend, option, Path(a))
                    runs += 1
                    codes = ",".join(t.split()[1] for t in mine.splitlines() if t.startswith("exit "))
                    requests = mine.count("\n{") + mine.count('\n"?')
                    digest = hashlib.sha256(mine.encode()).hexdigest()[:16]
                    line = f"{backend:<9} {option:<11} exit {codes:<4} {requests:>5} requests  {digest}"
                    if other is not None:
                        theirs = run(other, backend, option, Path(b))
                        runs += 1
                        same = theirs == mine
                        differ += not same
                        line += "  same" if same else "  DIFFERENT"
                        if not same:
                            for x, y in zip(mine.splitlines(), theirs.splitlines(), strict=False):
                                if x != y:
                                    line += f"\n    this tree: {x[:200]}\n    {opts.against}: {y[:200]}"
                                    break
                    print(line, flush=True)
    finally:
        if other is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], check=False)
    print(f"{runs} runs, {len(BACKENDS) * len(OPTIONS)} cases, {differ} different")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
