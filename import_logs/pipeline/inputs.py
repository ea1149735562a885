"""What a run reads: its inputs (files, globs, standard input; object patterns) resolved, and checked against the
options that cannot go with them."""

from __future__ import annotations

import threading
from collections.abc import Callable

from import_logs.config import Config
from import_logs.errors import ConfigError
from import_logs.events import EventSink, Notice
from import_logs.sources.files import resolve_inputs
from import_logs.sources.kinds import Source
from import_logs.sources.objects import ObjectPattern, is_object_url
from import_logs.sources.restart import await_logs


def inputs_of(
    c: Config, stop: threading.Event, on_event: EventSink, check_interrupted: Callable[[], None]
) -> tuple[list[Source], list[ObjectPattern]]:
    """The run's local sources (numbered, each log's files oldest first) and its object patterns. Following, the
    files are waited for first (a service may start before its logs exist)."""
    files = [i for i in c.inputs if not is_object_url(i)]
    if c.queue.url and files:
        raise ConfigError(
            f"--queue imports the objects its messages announce; the inputs given with it are s3:// patterns "
            f"that say which (s3://BUCKET/PREFIX/*.gz), not files ({files[0]}). Import local files in a run "
            "of their own."
        )
    if c.follow.enabled:
        await_logs(files, c.follow.poll, stop, on_event)
        check_interrupted()
    sources = resolve_inputs(files)
    objects = [ObjectPattern(i) for i in c.inputs if is_object_url(i)]
    if objects and c.follow.enabled and not c.queue.url:
        raise ConfigError(
            "--follow reads files that grow; objects of a store do not. Import a bucket from cron (each run "
            "reads only the new objects), or follow the queue its new objects are announced on (--queue URL), "
            "and follow the local files in a service of their own."
        )
    stdin = any(s.stdin for s in sources)
    if c.follow.enabled and stdin and len(sources) > 1:
        raise ConfigError(
            "--follow reads standard input until it ends, so no file could come after it. Follow standard "
            "input alone, or the files alone."
        )
    if len(sources) > 1:
        order = ", ".join(s.name for s in sources)
        on_event(
            Notice(
                f"reading {order} (each log's files oldest first, the logs side by side) and sending their hits "
                f"in one time order: a log's own disorder is put back in order within --lateness "
                f"({c.lateness:g} s), a later hit is sent at once and counted as late",
                detail=True,
            )
        )
    return sources, objects
