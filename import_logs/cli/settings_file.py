"""``--settings FILE``: the long options in a TOML file, so that a cron line stays short and secrets stay out
of ``ps``. Keys are the long option names (``client-secret`` or ``client_secret``); options given on the
command line win. Python 3.11+ reads the file with ``tomllib``; on 3.10 a reader of the flat subset the
settings need (strings, numbers, booleans, arrays of those, comments) stands in, with no dependency.
"""

from __future__ import annotations

import ast
import os
import re
import stat
import sys
from typing import Any

import click

from import_logs.errors import ConfigError, ImportLogsError

SECRET_KEYS = ("client_secret", "token_auth", "password", "auth_password")


def _loads_flat(text: str, path: str) -> dict[str, Any]:
    """key = value lines of TOML (no tables): enough for a settings file."""
    data: dict[str, Any] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_-]+|\"[^\"]+\")\s*=\s*(.+?)\s*(#[^\"']*)?", line)
        if match is None:
            raise ConfigError(f"--settings {path}:{number}: expected key = value, got {line!r}.")
        key, value = match.group(1).strip('"'), match.group(2)
        data[key] = _value(value, path, number)
    return data


def _value(text: str, path: str, number: int) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1]  # a TOML literal string
    try:
        value = ast.literal_eval(text.replace("true", "True").replace("false", "False"))
    except (ValueError, SyntaxError):
        raise ConfigError(f"--settings {path}:{number}: cannot read the value {text!r}.") from None
    if isinstance(value, tuple):
        value = list(value)
    return value


def load(path: str) -> dict[str, Any]:
    """The settings as click parameter names → values; a secret in a file others can read is refused."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ConfigError(f"--settings {path}: {exc.strerror}. Check the path.") from None
    text = raw.decode("utf-8")
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"--settings {path}: not valid TOML ({exc}).") from None
    else:  # Python 3.10
        data = _loads_flat(text, path)
    settings: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError(f"--settings {path}: [{key}]: tables are not used; write the options at the top.")
        settings[key.replace("-", "_").lstrip("_")] = value
    secrets = [k for k in settings if k in SECRET_KEYS]
    if secrets and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"--settings {path} holds {', '.join(secrets)} but others may read it. Run: chmod 600 {path}")
    return settings


def click_callback(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """--settings FILE: its keys become the defaults of the options (the command line wins)."""
    if not value or ctx.resilient_parsing:
        return value
    try:
        settings = load(value)
    except ImportLogsError as exc:
        raise click.BadParameter(str(exc).removeprefix(f"--settings {value}").lstrip(": ") or str(exc)) from None
    assert ctx.command is not None
    known = {p.name for p in ctx.command.params if p.name and p.expose_value}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise click.BadParameter(f"{value}: unknown key(s) {', '.join(unknown)}; the keys are the long option names.")
    ctx.default_map = {**(ctx.default_map or {}), **settings}
    return value
