"""Object storage: the same gzipped CloudFront objects imported from an S3 API (moto's server on 127.0.0.1) and
from disk, taking turns; and the client libraries that could fetch them, side by side.

    python bench/objects.py                          # 300 objects of 1,000 lines, 3 turns each
    python bench/objects.py --objects 100 --lines 2000 --repeat 1
    python bench/objects.py --many 5000      # memory with 500 and with 5,000 small objects: it must not grow

Needs the test extra (obstore, moto[server], which brings boto3). Prints lines/s, CPU seconds per million lines
of the importer's processes (moto's own CPU apart: it is a Python server, far slower than S3), and peak memory.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from run import Measure, _cpu, in_turns, measure  # noqa: E402
from s3_server import CREDENTIALS, client, moto_server  # noqa: E402

HEADER = (
    "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header "
    "cs-protocol cs-bytes time-taken\n"
)
PAGES = ["/", "/blog/", "/shop/item-{}", "/docs/page-{}.html", "/img/logo.png", "/files/report-{}.pdf"]
AGENTS = ["Mozilla/5.0%2520(X11;%2520Linux)%2520Firefox/121.0", "Mozilla/5.0%2520(iPhone)%2520Safari/604.1"]


def cloudfront(rng: random.Random, hour: int, lines: int) -> bytes:
    rows = []
    for n in range(lines):
        page = rng.choice(PAGES).format(rng.randrange(500))
        ip = f"198.51.{rng.randrange(256)}.{rng.randrange(256)}"
        rows.append(
            f"2026-11-{1 + hour // 24:02d}\t{hour % 24:02d}:{n * 60 // lines:02d}:{rng.randrange(60):02d}\tFRA56-P1\t"
            f"{rng.randrange(200, 90000)}\t{ip}\tGET\td1.cloudfront.net\t{page}\t200\t-\t{rng.choice(AGENTS)}\t-\t-\t"
            f"Hit\tid{hour}x{n}==\twww.example.com\thttps\t301\t0.0{rng.randrange(10, 99)}\n"
        )
    return (HEADER + "".join(rows)).encode()


def fetch_all(library: str, endpoint: str, bucket: str, keys: list[str]) -> None:
    """Run in a process of its own: fetch every object with 8 threads, as the importer does."""
    from concurrent.futures import ThreadPoolExecutor

    if library == "obstore":
        import obstore
        from obstore.store import S3Store

        store = S3Store(bucket, config={"endpoint": endpoint}, client_options={"allow_http": True})

        def get(key: str) -> int:
            return len(bytes(obstore.get(store, key).bytes()))
    else:
        s3 = client(endpoint)

        def get(key: str) -> int:
            return len(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    with ThreadPoolExecutor(8) as pool:
        total = sum(pool.map(get, keys))
    print(total)


def libraries(endpoint: str, bucket: str, keys: list[str], repeat: int) -> None:
    print(f"\nFetching the {len(keys)} objects, 8 threads, a process each (import included), {repeat} turns:")
    print(f"  {'library':<10} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}")
    results: dict[str, list[tuple[float, float, float]]] = {"obstore": [], "boto3": []}
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(keys))
    for turn in range(repeat):
        for library in ("obstore", "boto3") if turn % 2 == 0 else ("boto3", "obstore"):
            code = (
                "import sys, resource; sys.path[:0] = sys.argv[1:3]; from objects import fetch_all; "
                "fetch_all(sys.argv[3], sys.argv[4], sys.argv[5], open(sys.argv[6]).read().split()); "
                "r = resource.getrusage(resource.RUSAGE_SELF); "
                "print(r.ru_utime + r.ru_stime, r.ru_maxrss / 1024, file=sys.stderr)"
            )
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-c", code, str(HERE), str(HERE.parent / "tests"), library, endpoint, bucket, f.name],
                capture_output=True,
                text=True,
                env={**os.environ, **CREDENTIALS},
                check=True,
            )
            wall = time.monotonic() - started
            cpu, rss = (float(x) for x in done.stderr.split()[-2:])
            results[library].append((wall, cpu, rss))
    for library, runs in results.items():
        wall, cpu, rss = sorted(runs)[len(runs) // 2]
        print(f"  {library:<10} {wall:8.2f} {cpu:8.2f} {rss:12.0f}")
    os.unlink(f.name)


def many(count: int, workers: int) -> None:
    """Peak memory of an import of count/10 and of count small objects (10 lines each), into a state file."""
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(5)
    body = gzip.compress(cloudfront(rng, 7, 10))
    with moto_server() as endpoint, tempfile.TemporaryDirectory() as tmp:
        s3 = client(endpoint)
        s3.create_bucket(Bucket="many")
        keys = [f"small/E2ABC.{n:07d}.gz" for n in range(count // 10)] + [
            f"large/E2ABC.{n:07d}.gz" for n in range(count)
        ]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda key: s3.put_object(Bucket="many", Key=key, Body=body), keys))
        env = {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}
        print(f"{'objects':>8} {'lines':>9} {'peak MB':>8} {'CPU-s':>7}  (--save-requests, a state file)")
        for n, prefix in ((count // 10, "small"), (count, "large")):
            m = measure(
                [
                    f"--workers={workers}",
                    "--log-format-name=amazon_cloudfront",
                    f"--save-requests={tmp}/out.jsonl",
                    f"--state-file={tmp}/state-{prefix}.json",
                    f"s3://many/{prefix}/*.gz",
                ],
                env=env,
            )
            print(f"{n:>8,} {m.lines:>9,} {m.peak_mb:>8.0f} {m.cpu:>7.1f}")


def row(name: str, m: Measure) -> str:
    return f"  {name:<28} {m.rate:>10,.0f} {m.cpu / m.lines * 1e6:>10.2f} {m.peak_mb:>8.0f} {m.lines:>10,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=300)
    parser.add_argument("--lines", type=int, default=1000, help="lines per object")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--many", type=int, default=0, help="only the memory check, with this many small objects")
    opts = parser.parse_args()
    if opts.many:
        many(opts.many, opts.workers)
        return
    rng = random.Random(4)
    bodies = {
        f"cloudfront/E2ABC.2026-11-{1 + h // 24:02d}-{h % 24:02d}.{h:06x}.gz": gzip.compress(
            cloudfront(rng, h, opts.lines)
        )
        for h in range(opts.objects)
    }
    with moto_server() as endpoint, tempfile.TemporaryDirectory() as tmp:
        moto_pid = int(subprocess.check_output(["pgrep", "-n", "-f", "moto.server"]).split()[0])
        s3 = client(endpoint)
        s3.create_bucket(Bucket="bench")
        for key, body in bodies.items():
            s3.put_object(Bucket="bench", Key=key, Body=body)
            (Path(tmp) / Path(key).name).write_bytes(body)
        size = sum(len(b) for b in bodies.values())
        print(
            f"{opts.objects} objects of {opts.lines:,} lines, {size / 1e6:.1f} MB gzipped,",
            f"{opts.workers} workers, dry run",
        )
        common = ["--dry-run", f"--workers={opts.workers}", "--log-format-name=amazon_cloudfront"]
        env = {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}
        moto_cpu = [0.0]

        def from_s3() -> Measure:
            before = _cpu(moto_pid)
            m = measure([*common, "s3://bench/cloudfront/E2ABC.2026-11-*.gz"], env=env)
            moto_cpu[0] += _cpu(moto_pid) - before
            return m

        def from_disk() -> Measure:
            return measure([*common, *sorted(str(p) for p in Path(tmp).glob("*.gz"))], env=env)

        s3_run, disk_run = in_turns(from_s3, from_disk, repeat=opts.repeat)
        print(f"\n  {'source':<28} {'lines/s':>10} {'CPU-s/M':>10} {'peak MB':>8} {'lines':>10}")
        print(row("s3:// (moto on 127.0.0.1)", s3_run))
        print(row("the same objects on disk", disk_run))
        print(f"  moto's own CPU: {moto_cpu[0] / opts.repeat:.2f} s per run (not counted above)")
        libraries(endpoint, "bench", list(bodies), opts.repeat)


if __name__ == "__main__":
    main()
