"""A short run of bench/follow_campaign.py (#22): --follow through rotations (rename, copytruncate, gzip later),
one SIGTERM and one kill -9, restarted each time; every line written must reach the tracker.

The real CLI as a service, a writer at 300 lines a second, a tracker that counts each hit by its path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CAMPAIGN = Path(__file__).resolve().parent.parent / "bench" / "follow_campaign.py"


def test_a_short_campaign_loses_no_line(tmp_path: Path) -> None:
    work = tmp_path / "campaign"
    args = ["--seed=3", "--duration=14", "--rotations=3", "--stops=2", "--rate=300", "--final-timeout=20"]
    result = subprocess.run(
        [sys.executable, str(CAMPAIGN), *args, f"--keep={work}"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
    )
    figures = json.loads(result.stdout.splitlines()[-1])
    story = result.stdout + (work / "events.txt").read_text()
    assert figures["written"] > 3000, story
    assert figures["lost"] == 0, story
    assert figures["stopped_by"] == {"SIGTERM": 2, "kill -9": 1}, story  # the last run's SIGTERM too; no crash
    assert result.returncode == 0, story
