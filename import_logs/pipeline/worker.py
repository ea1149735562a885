"""The work of a worker process: a block of lines in, encoded requests and counters out.

``process_block`` is a plain function of a :class:`WorkContext` and a :class:`~import_logs.sources.files.Block`; it
runs the same in the main process (``--workers 1``) and in worker processes started by fork, spawn or
forkserver, since it gets everything it needs as arguments. The kept hits go back as the columns of a
:class:`~import_logs.hits.Hits` (cheap to pickle).
"""

from __future__ import annotations

import signal
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from import_logs.backends import Encoder, EncodeSpec, make_encoder
from import_logs.backends.replay import tracking_params
from import_logs.backends.replay import visitor as replay_visitor
from import_logs.config import FilterOptions, PrivacyOptions
from import_logs.filters import AI_ASSISTANT, DOWNLOAD, HitFilter
from import_logs.hits import Hits
from import_logs.parsing.formats import FormatDef
from import_logs.parsing.hit import HEADER, LineParser
from import_logs.pipeline.orphans import die_with_parent
from import_logs.privacy import Privacy
from import_logs.reasons import Invalid, Skip
from import_logs.sources.files import Block


@dataclass(frozen=True)
class WorkContext:
    """What a worker needs for the blocks of one source. Hashable: workers build their parts once per context."""

    fmt: FormatDef
    filters: FilterOptions
    encode: EncodeSpec
    encoding: str = "utf-8"
    #: --timezone, for timestamps without an offset.
    timezone: str | None = None
    #: Keep the text of every invalid or skipped line (for -v).
    keep_rejected: bool = False
    #: Encode the kept hits (not for a dry run, which only counts them, as the reference importers' does).
    encode_hits: bool = True
    privacy: PrivacyOptions = field(default_factory=PrivacyOptions)


@dataclass
class BlockResult:
    source: int
    start: int
    end: int
    lines: int = 0
    kept: int = 0
    downloads: int = 0
    #: Kept hits encoded in Matomo's bot mode (AI assistants).
    bot_requests: int = 0
    #: The kept hits (none in a dry run), numbered by their line in the block.
    hits: Hits = field(default_factory=Hits)
    skipped: Counter[Skip] = field(default_factory=Counter)
    invalid: Counter[Invalid] = field(default_factory=Counter)
    #: (block-relative line index, reason, line) when ``keep_rejected``.
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    #: The file no longer held the block's range when it was read (copytruncate): nothing of it was read.
    short: bool = False


@lru_cache(maxsize=16)
def _stages(ctx: WorkContext) -> tuple[LineParser, Privacy | None, HitFilter, Encoder]:
    hit_filter = HitFilter(ctx.filters, ai_assistants=ctx.encode.bot_mode)
    # Replayed requests are judged as tracking requests first: no filter may answer before that.
    replay = ctx.encode.replay_suffixes is not None
    parser = LineParser(
        ctx.fmt,
        ctx.encode.tracking,
        timezone=ctx.timezone,
        path_skips=None if replay else hit_filter.path_skips,
    )
    privacy = Privacy(ctx.privacy) if ctx.privacy.active else None
    return parser, privacy, hit_filter, make_encoder(ctx.encode)


def split_lines(data: bytes, encoding: str) -> list[str]:
    """Decode a block (undecodable bytes kept as ``\\xNN``) and split it at ``\\n`` only (CRLF too)."""
    text = data.decode(encoding, "backslashreplace")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def process_block(ctx: WorkContext, block: Block) -> BlockResult:
    parser, privacy, hit_filter, encode = _stages(ctx)
    data = block.read()
    if data is None:
        return BlockResult(block.source, block.start, block.end, short=True)
    lines = split_lines(data, ctx.encoding)
    result = BlockResult(block.source, block.start, block.end, lines=len(lines))
    skipped = result.skipped
    invalid = result.invalid
    rejected = result.rejected if ctx.keep_rejected else None
    hits = result.hits
    numbers, items, visitors, times = hits.lines, hits.items, hits.visitors, hits.times
    parse = parser.parse
    check = hit_filter.check
    encode_hits = ctx.encode_hits
    spec = ctx.encode
    keys = hits.keys if spec.per_hit_site else None
    suffixes = spec.replay_suffixes
    shift = spec.tracking.add_to_date
    params: dict[str, str] | None = None
    # The parser returns the same datetime for the lines of one second: its timestamp is worked out once.
    last_time: datetime | None = None
    stamp = 0.0
    kept = downloads = bot_requests = 0
    nul = b"\x00" in data  # a NUL byte is never a log's own: such a line is not sent (one scan of the block)
    for index, line in enumerate(lines):
        if nul and "\x00" in line:
            invalid[Invalid.NUL_BYTE] += 1
            if rejected is not None:
                rejected.append((index, f"invalid: {Invalid.NUL_BYTE}", line))
            continue
        hit = parse(line)
        if isinstance(hit, str):
            if isinstance(hit, Skip):  # a header line (W3C, a CSV log's column names), or skipped by its path
                skipped[hit] += 1
                if rejected is not None and hit is not HEADER:
                    rejected.append((index, f"skipped: {hit}", line))
                continue
            invalid[hit] += 1
            if rejected is not None:
                rejected.append((index, f"invalid: {hit}", line))
            continue
        if suffixes is not None:
            params = tracking_params(hit, suffixes, shift)
            if params is None:
                skipped[Skip.NOT_TRACKING] += 1
                if rejected is not None:
                    rejected.append((index, f"skipped: {Skip.NOT_TRACKING}", line))
                continue
        reason, flags = check(hit)  # on the log's own values: what a filter names is what the log says
        if reason is not None:
            skipped[reason] += 1
            if rejected is not None:
                rejected.append((index, f"skipped: {reason}", line))
            continue
        if privacy is not None:  # only on the hits that would be sent: the filtered ones are not worth the work
            private = privacy(hit)
            if private is None:
                skipped[Skip.EXCLUDED_IP] += 1
                if rejected is not None:
                    rejected.append((index, f"skipped: {Skip.EXCLUDED_IP}", line))
                continue
            hit = private
        kept += 1
        if flags:
            if flags & DOWNLOAD:
                downloads += 1
            if flags & AI_ASSISTANT:
                bot_requests += 1
        if not encode_hits:
            continue
        numbers.append(index + 1)
        when = hit.time
        if when is not last_time:
            last_time = when
            stamp = when.timestamp()
        times.append(stamp)
        if params is not None:
            items.append(encode.replay(hit, params))
            visitors.append(replay_visitor(params, hit))
            if keys is not None:
                keys.append(params["idsite"])
            continue
        items.append(encode(hit, flags))
        visitors.append(hit.ip or "")
        if keys is not None:
            keys.append(hit.host or "")
    result.kept = kept
    result.downloads = downloads
    result.bot_requests = bot_requests
    return result


def init_worker() -> None:
    """Workers leave Ctrl-C to the main process, which stops them, and end with their parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
