"""Matomo's bulk requests as query strings (what we send) or as JSON objects: CPU per hit of the encoder.

    python bench/matomo_json.py                  # 200,000 generated lines, 7 interleaved rounds
    python bench/matomo_json.py --lines 500000 --rounds 9

Matomo's BulkTracking plugin takes each request either as a query string (parsed with ``parse_str``) or as an
object of parameters (plugins/BulkTracking/Tracker/Requests.php). The object form spares the URL quoting of
every value but needs a JSON escape of the same values instead. Both encoders here memoise the values that
repeat the same way (the query-string one is the real MatomoEncoder), so this measures what each costs per hit
once warm: A and B take turns within each round over the same hits, CPU time (process_time) per hit, median.
Before timing, every hit's two forms are decoded and compared: the same parameters must reach Matomo.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import lines

from import_logs.backends.base import EncodeSpec
from import_logs.backends.encoding import Memo, UrlMemo, json_string
from import_logs.backends.matomo_encode import MatomoEncoder
from import_logs.config import FilterOptions, TrackingOptions
from import_logs.filters import HitFilter
from import_logs.parsing.formats import get_format
from import_logs.parsing.hit import Hit, LineParser
from import_logs.parsing.timeparse import format_cdt


class ObjectEncoder(MatomoEncoder):
    """The plain page view as a JSON object of its parameters, each value JSON-escaped once per distinct value;
    every other hit as MatomoEncoder's query string (they are a few per cent, and the same in both)."""

    def __init__(self, spec: EncodeSpec) -> None:
        super().__init__(spec)
        self._jhead = f'{{"idsite":{json_string(self.site)},"rec":"1","apiv":"1","queuedtracking":"0","dp":"{self.dp}"'
        self._js: Memo[str] = Memo(json_string)
        self._jurls = UrlMemo(spec, json_string)
        self._jcdt: Memo[object] = Memo(lambda time: f'"{format_cdt(time)}"')  # type: ignore[arg-type]
        self._jcip: Memo[str | None] = Memo(lambda ip: f',"cip":{json_string(ip)}' if ip else "")
        self._jref: Memo[str] = Memo(lambda ref: f',"urlref":{json_string(ref[:2048])}' if ref else "")
        self._jcvar: Memo[int] = Memo(lambda status: json_string(json.dumps({"1": ["HTTP-code", str(status)]})))

    def __call__(self, hit: Hit, flags: int) -> str:
        if flags or not self._plain or hit.userid or hit.page_cvars or hit.visit_cvars or hit.generation_time_ms:
            return super().__call__(hit, flags)
        _url, url_j = self._jurls[hit.host, hit.path, hit.query]
        size = hit.size
        bw = f',"bw_bytes":"{size}"' if size > 0 else ""
        return (
            f'{self._jhead},"cdt":{self._jcdt[hit.time]},"ua":{self._js[hit.user_agent]},"url":{url_j}'
            f'{self._jcip[hit.ip]}{self._jref[hit.referrer]},"cvar":{self._jcvar[hit.status]}{bw}}}'
        )


def decoded(item: str) -> dict[str, str]:
    value = json.loads(item)
    return value if isinstance(value, dict) else dict(parse_qsl(value.lstrip("?"), keep_blank_values=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    fmt = get_format("common_complete")
    tracking = TrackingOptions()
    parse = LineParser(fmt, tracking).parse
    check = HitFilter(FilterOptions()).check
    hits: list[tuple[Hit, int]] = []
    for line in lines(args.lines, "common_complete", 1):
        hit = parse(line)
        if isinstance(hit, str):
            continue
        reason, flags = check(hit)
        if reason is None:
            hits.append((hit, flags))
    spec = EncodeSpec(backend="matomo", idsite="1", main_url="https://www.example.com", tracking=tracking)
    a, b = MatomoEncoder(spec), ObjectEncoder(spec)
    plain = 0
    for hit, flags in hits:
        qs, obj = a(hit, flags), b(hit, flags)
        plain += obj.startswith("{")
        assert decoded(qs) == decoded(obj), (qs, obj)
    bytes_a = sum(len(a(h, f)) for h, f in hits)
    bytes_b = sum(len(b(h, f)) for h, f in hits)
    print(f"{len(hits):,} hits kept of {args.lines:,} lines; {plain:,} plain page views take the object form")
    print("the two forms decode to the same parameters for every hit")
    times: dict[str, list[float]] = {"query string": [], "object": []}
    for _ in range(args.rounds):
        for name, encoder in (("query string", a), ("object", b)):
            start = time.process_time()
            for hit, flags in hits:
                encoder(hit, flags)
            times[name].append((time.process_time() - start) / len(hits) * 1e9)
    for name, runs in times.items():
        print(f"{name:>13}: {statistics.median(runs):7.1f} ns/hit (min {min(runs):.1f}, max {max(runs):.1f})")
    ratio = statistics.median(times["object"]) / statistics.median(times["query string"])
    print(f"object / query string: {ratio:.3f}; body bytes {bytes_b / bytes_a:.3f} of the query strings'")


if __name__ == "__main__":
    main()
