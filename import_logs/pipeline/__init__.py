"""The spine of an import: sources → workers → ordered merge → lanes → backend.

``importer`` wires it and owns its lifecycle; ``plan`` turns each source into jobs; ``pool`` runs them in the
worker processes (``worker`` is what runs there) and reads the results back in order; ``merge`` decides which
hits of a block go on; ``lanes`` are the sending threads; ``orphans`` makes the worker processes end with the
importer; ``modes`` holds what imports nothing (--dump-log-regex, --show-state, --reset-state).
"""

from import_logs.pipeline.choose import forced_format
from import_logs.pipeline.importer import Importer
from import_logs.pipeline.modes import dump_format, reset_state, show_state, state_file_for
from import_logs.pipeline.pool import mp_context

__all__ = ["Importer", "dump_format", "forced_format", "mp_context", "reset_state", "show_state", "state_file_for"]
