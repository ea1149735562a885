"""The spine of an import: sources → workers → ordered merge → lanes → backend.

``importer`` wires it and owns its lifecycle, ``worker`` is what runs in the worker processes, ``lanes`` the
sending threads, ``orphans`` makes the worker processes end with the importer.
"""

from import_logs.pipeline.importer import (
    Importer,
    dump_format,
    forced_format,
    mp_context,
    reset_state,
    show_state,
    state_file_for,
)

__all__ = ["Importer", "dump_format", "forced_format", "mp_context", "reset_state", "show_state", "state_file_for"]
