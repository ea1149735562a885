"""``--settings FILE``: the long options in a TOML file, so that a cron line stays short and secrets stay out
of ``ps``. Keys are the long option names (``client-secret`` or ``client_secret``); options given on the
command line win. Python 3.11+ reads the file with ``tomllib``, 3.10 with ``tomli`` (the same parser; a
conditional dependency: a hand-written reader turned ``true`` inside strings into ``True``).
"""

from __future__ import annotations

import os
import stat
import sys
from typing import Any

import click

from import_logs.errors import ConfigError, ImportLogsError

SECRET_KEYS = ("client_secret", "token_auth", "password", "auth_password")


def option_name(key: str) -> str:
    """The click parameter name of a settings key (``client-secret`` → ``client_secret``)."""
    return key.replace("-", "_").lstrip("_")


def load(path: str) -> dict[str, Any]:
    """The settings as click parameter names → values; a secret in a file others can read is refused."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ConfigError(f"--settings {path}: {exc.strerror}. Check the path.") from None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--settings {path}: not valid TOML ({exc}).") from None
    settings: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError(f"--settings {path}: [{key}]: tables are not used; write the options at the top.")
        settings[option_name(key)] = value
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
    params = {p.name: p for p in ctx.command.params if p.name and p.expose_value}
    written = {option_name(key): key for key in _keys(value)}
    unknown = sorted(written.get(name, name) for name in set(settings) - set(params))
    if unknown:
        raise click.BadParameter(f"{value}: unknown key(s) {', '.join(unknown)}; the keys are the long option names.")
    for name, setting in settings.items():  # checked here, so that the message names the file and the key
        try:
            params[name].type_cast_value(ctx, setting)
        except click.BadParameter as exc:
            raise click.BadParameter(f"{value}: {written.get(name, name)} = {setting!r}: {exc.message}") from None
    ctx.default_map = {**(ctx.default_map or {}), **settings}
    return value


def _keys(path: str) -> list[str]:
    """The keys as the file writes them (for messages)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    with open(path, "rb") as f:
        return list(tomllib.load(f))
