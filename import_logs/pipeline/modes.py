"""The modes that import nothing (--dump-log-regex, --show-state, --reset-state), and the state file of the
configured destination, which the import and these modes share."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import BinaryIO

from import_logs.backends import destination
from import_logs.checkpoint.resume import read_head
from import_logs.checkpoint.state import Entry, StateFile, default_state_path, fingerprint
from import_logs.config import Config
from import_logs.errors import ConfigError, ImportLogsError
from import_logs.parsing.detect import detect
from import_logs.pipeline.choose import forced_format
from import_logs.sources.files import compression_of, resolve_inputs, stream_blocks
from import_logs.sources.heads import head_lines
from import_logs.sources.kinds import FileSource


def state_file_for(
    config: Config, *, read_only: bool, on_wait: Callable[[str], None] | None = None
) -> StateFile | None:
    """The state file of the configured destination (None when there is none to keep)."""
    dest = destination(config)
    if dest is None:
        return None
    path = config.state.path
    if path is None:
        if config.save_requests is not None or config.state.directory is None:
            return None
        path = default_state_path(config.state.directory, dest)
    if read_only and not os.path.exists(path):
        return None
    return StateFile(path, dest, lock_timeout=config.state.lock_timeout, read_only=read_only, on_wait=on_wait)


def dump_format(config: Config, stdin: BinaryIO | None = None) -> list[str]:
    """--dump-log-regex: the format of the first file (named or detected), and how it reads a line."""
    source = resolve_inputs(config.inputs)[0]
    fmt = forced_format(config)
    if fmt is None:
        head = None
        if not source.reopens:  # a stream: its first block
            head = next(stream_blocks(source.open(stdin), config.block_size), (0, b""))[1]
        fmt = detect(head_lines(source, head, encoding=config.formats.encoding), path=source.name)
    if fmt.kind == "json":
        return [f"{source.name}: {fmt.name} (JSON)", *(f"  {group} <- {paths}" for group, paths in fmt.keys)]
    return [f"{source.name}: {fmt.name}", fmt.regex]


def show_state(config: Config) -> list[str]:
    """--show-state: what the state file of this destination holds."""
    state = state_file_for(config, read_only=True)
    if state is None:
        return ["no state kept yet for this destination (give --url and --idsite, or --state-file)"]
    heads: dict[str, bytes] = {}
    with state:
        return list(state.describe(lambda entry: located(entry, heads)))


def located(entry: Entry, heads: dict[str, bytes]) -> str:
    """Where a file's content is now: its last path, else a rotated copy beside it (``access.log.1``,
    ``access.log.2.gz``, ``access.log-20261129.gz``) found by its fingerprint, else a note that it is gone.
    ``heads`` keeps the first bytes read of each file, for the next entries."""
    if entry.object or not entry.fp_len:
        return entry.path

    def holds(path: str) -> bool:
        if path not in heads:
            heads[path] = _head(path)
        head = heads[path]
        return len(head) >= entry.fp_len and fingerprint(head, entry.fp_len) == entry.fingerprint

    if holds(entry.path):
        return entry.path
    directory, name = os.path.split(entry.path)
    try:
        siblings = sorted(n for n in os.listdir(directory or ".") if n.startswith(name) and n != name)
    except OSError:
        siblings = []
    for sibling in siblings:
        if holds(os.path.join(directory, sibling)):
            return f"{os.path.join(directory, sibling)} (last seen as {name})"
    return f"{entry.path} (its content is no longer there nor beside it: rotated away or deleted)"


def _head(path: str) -> bytes:
    """The first decompressed bytes of a regular file, or nothing when it cannot be read."""
    try:
        if not os.path.isfile(path):
            return b""
        return read_head(FileSource(0, path, path, compression_of(path), None))
    except (OSError, EOFError, ValueError, ImportLogsError):
        return b""


def reset_state(config: Config) -> list[str]:
    """--reset-state: forget the given files, so that the next run imports them again from the start."""
    state = state_file_for(config, read_only=False)
    if state is None:
        raise ConfigError(
            "--reset-state: no state file for this destination; give --url and --idsite, or --state-file."
        )
    said = []
    with state:
        if not config.inputs:  # no file named: forget every one
            said = [f"{entry.path}: forgotten; the next run imports it again" for entry in state.entries]
            said += [
                f"{mark.pattern}: forgotten; the next run imports its objects again" for mark in state.listings.values()
            ]
            state.forget(list(state.entries))
            state.listings.clear()
            state.save(clean=True)
            return said or ["the state holds no file"]
        for source in resolve_inputs(config.inputs):
            if not isinstance(source, FileSource):  # a stream has no place in the state
                continue
            entry = state.match(read_head(source), source.path, 0, 0)
            if entry is None:
                said.append(f"{source.name}: not in the state")
                continue
            state.forget([entry])
            said.append(
                f"{source.name}: forgotten (was imported up to line {entry.line}); the next run imports it again"
            )
        state.save(clean=True)
    return said
