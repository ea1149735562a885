"""The README's --follow unit, as written (issue #25, item 4): `systemd-analyze verify` accepts it (where the
command exists), and its ExecStart runs as systemd would start it for a `useradd --system` user with no home:
the state goes to $STATE_DIRECTORY (StateDirectory=), /metrics and /healthz answer, SIGTERM ends it as
SuccessExitStatus= expects. /opt, /etc and /var/log are directories of the test, as in test_readme_examples."""

from __future__ import annotations

import http.client
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from fake_others import FakeMatomo
from test_readme_examples import README, as_here, machine, token


def readme_unit() -> str:
    section = README[README.index("## Following a log as a service") :]
    section = section[: section.index("\n## ", 1)]
    return next(b for b in re.findall(r"```ini\n(.*?)```", section, flags=re.S) if "import-logs-follow" in b)


UNITS = [pytest.param(readme_unit(), id="readme")]
RUN_UNITS = UNITS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthz(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path, unit: str) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze here")
    with FakeMatomo(sites={"1": "https://www.example.com"}) as matomo:
        places = machine(tmp_path, matomo)
    path = tmp_path / "import-logs-follow.service"
    path.write_text(as_here(unit, places))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True, text=True, timeout=60
    )
    complaints = [
        line
        for line in done.stderr.splitlines()
        if "import-logs-follow.service" in line and "Failed to resolve user" not in line  # no such user here
    ]
    assert not complaints, done.stderr


@pytest.mark.parametrize("unit", RUN_UNITS)
def test_the_follow_unit_runs_as_written_for_a_user_with_no_home(tmp_path: Path, unit: str) -> None:
    fields = dict(re.findall(r"^(\w+)=(.*)$", unit, flags=re.M))
    assert fields["User"] and fields["StateDirectory"] == "import-logs" and fields["Restart"] == "on-failure"
    assert fields["NoNewPrivileges"] == "yes" and fields["ProtectSystem"] == "strict"
    port = free_port()
    state = tmp_path / "var-lib-import-logs"
    state.mkdir(mode=0o700)  # what systemd makes for StateDirectory=
    with FakeMatomo(sites={"1": "https://www.example.com"}) as matomo:
        places = machine(tmp_path, matomo)
        matomo.tokens = {token(places): "write"}
        environment = Path(as_here(fields["EnvironmentFile"], places)).read_text()
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "nonexistent"), "STATE_DIRECTORY": str(state)}
        if "PYTHONPATH" in os.environ:  # a work tree's code, not the installed one
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        env.update(re.findall(r"^([A-Z_]+)=(.*)$", environment, flags=re.M))
        argv = shlex.split(as_here(fields["ExecStart"], places).replace("127.0.0.1:9464", f"127.0.0.1:{port}"))
        assert os.path.isabs(argv[0]) and os.access(argv[0], os.X_OK), f"{argv[0]} is not installed"
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while not matomo.hits and time.monotonic() < deadline:
                time.sleep(0.05)
            assert matomo.hits, "nothing sent"
            assert healthz(port) == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
    assert proc.returncode in {0, *map(int, fields["SuccessExitStatus"].split())}, err
    assert not (tmp_path / "nonexistent").exists()
    assert [p.suffix for p in state.iterdir() if p.suffix == ".json"] == [".json"]
    assert f"{len(matomo.hits)} hits sent" in out
