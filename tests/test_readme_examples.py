"""The README's cron line and systemd unit, run as written (issue #15, item 10).

They failed after the README's install: cron's PATH has no `import-logs`, and the unit named a
/usr/local/bin/import-logs that nothing installed. The README now installs into a virtual environment of
its own and calls it by its full path; here that environment is the one running the tests (``sys.prefix``),
and /etc, /var/log are directories of the test. Everything else is taken from the README's text.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import SAMPLES
from fake_others import FakeMatomo

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## From cron, systemd and logrotate") :]
SECTION = SECTION[: SECTION.index("\n## ", 1)]
#: What cron gives a job.
CRON_ENV = {"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "LANG": "C.UTF-8"}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", SECTION, flags=re.S)


def machine(tmp_path: Path, server: FakeMatomo) -> dict[str, str]:
    """The README's files, where the test keeps them: path as written → path here."""
    etc, logs = tmp_path / "etc", tmp_path / "var-log-nginx"
    etc.mkdir()
    logs.mkdir()
    places = {
        "/opt/import-logs": sys.prefix,
        "/etc/import-logs.toml": str(etc / "import-logs.toml"),
        "/etc/import-logs.env": str(etc / "import-logs.env"),
        "/var/log/nginx": str(logs),
    }
    env_block = next(b for b in blocks("sh") if "# /etc/import-logs.env" in b)
    (etc / "import-logs.env").write_text(env_block.split("\n", 1)[1])
    toml = next(b for b in blocks("toml") if "# /etc/import-logs.toml" in b)
    (etc / "import-logs.toml").write_text(re.sub(r'url = "[^"]*"', f'url = "{server.url}"', toml))
    sample = (SAMPLES / "common_complete.log").read_text()
    (logs / "access.log.1").write_text(sample)
    (logs / "access.log").write_text(sample.replace("10/Feb/2024", "11/Feb/2024"))
    return places


def as_here(text: str, places: dict[str, str]) -> str:
    for written, here in places.items():
        text = text.replace(written, here)
    return text


def token(places: dict[str, str]) -> str:
    env = Path(places["/etc/import-logs.env"]).read_text()
    found = re.search(r"^IMPORT_LOGS_TOKEN_AUTH=(\S+)", env, flags=re.M)
    assert found is not None, "the README's environment file names the token"
    return found[1]


def test_the_cron_line_runs_as_written(tmp_path: Path) -> None:
    line = next(line for line in SECTION.splitlines() if line.startswith("*/5 * * * * "))
    command = line.split(" ", 5)[5]
    with FakeMatomo(sites={"1": "https://www.example.com"}) as matomo:
        places = machine(tmp_path, matomo)
        matomo.tokens = {token(places): "write"}
        env = {**CRON_ENV, "HOME": str(tmp_path)}
        runs = [
            subprocess.run(["/bin/sh", "-c", as_here(command, places)], env=env, capture_output=True, text=True)
            for _ in range(2)
        ]
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[0].stdout.startswith("import-logs: 40 new lines in 2 files")
    assert runs[1].returncode == 0, runs[1].stderr  # nothing new: exit 6, which the line accepts
    assert runs[1].stdout == runs[1].stderr == ""  # so cron mails nothing
    assert f"{len(matomo.hits)} hits sent" in runs[0].stdout and matomo.hits


def test_the_systemd_unit_runs_as_written(tmp_path: Path) -> None:
    unit = next(b for b in blocks("ini") if "import-logs.service" in b)
    fields = dict(re.findall(r"^(\w+)=(.*)$", unit, flags=re.M))
    with FakeMatomo(sites={"1": "https://www.example.com"}) as matomo:
        places = machine(tmp_path, matomo)
        matomo.tokens = {token(places): "write"}
        environment = Path(as_here(fields["EnvironmentFile"], places)).read_text()
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        env.update(re.findall(r"^([A-Z_]+)=(.*)$", environment, flags=re.M))
        argv = shlex.split(as_here(fields["ExecStart"], places))
        assert os.path.isabs(argv[0]) and os.access(argv[0], os.X_OK), f"{argv[0]} is not installed"
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
    ok = {0, *map(int, fields["SuccessExitStatus"].split())}
    assert done.returncode in ok, done.stderr
    assert f"{len(matomo.hits)} hits sent" in done.stdout and matomo.hits
