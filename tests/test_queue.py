"""A queue of new objects (--queue): S3 event notifications on SQS, against moto's server on 127.0.0.1 (S3 and SQS
in one process; it sends the bucket's notifications to the queue as S3 does, the test event first), through the
real command and the fake tracker: cron and follow mode, messages delivered again, an object uploaded again, a
message for a deleted object, malformed messages, kill -9 in the middle, and a visibility timeout shorter than the
import of one object. Counted at the tracker: every line once; the queue empty at the end."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("obstore")
pytest.importorskip("moto")

from conftest import SECRET_ENV, piwik_args, run_cli
from fake_server import FakePiwikPro
from s3_server import CREDENTIALS, client, moto_server
from sqs_server import counts, notifying_queue, s3_event, send, sqs_client, wait_empty
from test_objects import HEADER

DAY = "2026-11-29"


def log(pages: list[tuple[int, str]]) -> bytes:
    """A gzipped CloudFront log with one hit for each (page, HH:MM:SS)."""
    rows = [
        f"{DAY}\t{when}\tFRA56-P1\t5120\t203.0.113.{page % 200}\tGET\td1.cloudfront.net\t/p/{page}\t200\t-\t"
        f"Mozilla/5.0%2520(X11)\t-\t-\tHit\tid{page}==\twww.example.com\thttps\t301\t0.040\n"
        for page, when in pages
    ]
    return gzip.compress((HEADER + "".join(rows)).encode())


def hour_log(first: int, count: int, hour: int = 10) -> bytes:
    return log([(n, f"{hour:02d}:{(n - first) % 60:02d}:{n % 60:02d}") for n in range(first, first + count)])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


class World:
    """A bucket whose notifications go to a queue of its own, the fake tracker, and the command run against them."""

    def __init__(self, endpoint: str, name: str, tmp_path: Path, fake: FakePiwikPro, visibility: int) -> None:
        self.endpoint, self.bucket, self.tmp_path, self.fake = endpoint, name, tmp_path, fake
        self.s3, self.sqs = client(endpoint), sqs_client(endpoint)
        self.s3.create_bucket(Bucket=name)
        self.queue = notifying_queue(self.s3, self.sqs, name, name, visibility=visibility)
        self.pattern = f"s3://{name}/cf/*.gz"
        self.env = {**SECRET_ENV, **CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true"}

    def put(self, key: str, body: bytes) -> str:
        return str(self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)["ETag"]).strip('"')

    def args(self, *extra: str) -> list[str]:
        return [*piwik_args(self.fake, "--workers=1", *extra), "--queue", self.queue, self.pattern]

    def run(self, *extra: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return run_cli(*self.args(*extra), cwd=self.tmp_path, env=self.env, timeout=timeout)

    def start(self, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "import_logs", *self.args(*extra)],
            cwd=self.tmp_path,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def pages(self) -> Counter[int]:
        return Counter(int(hit["url"].rsplit("/", 1)[1]) for hit in self.fake.hits)


@pytest.fixture
def world(endpoint: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    name = "q-" + "".join(c if c.isalnum() else "-" for c in request.node.originalname.lower())[:50].strip("-")
    visibility = getattr(request, "param", 30)
    with FakePiwikPro() as fake:
        yield World(endpoint, name, tmp_path, fake, visibility)


def test_cron_imports_each_announced_object_once_and_empties_the_queue(world: World) -> None:
    for hour in range(3):
        world.put(f"cf/E2.{DAY}-{hour:02d}.a.gz", hour_log(hour * 100, 5, hour))
    world.put("elsewhere/other.gz", hour_log(900, 2))  # announced, not named by the pattern: left for others
    summary = world.tmp_path / "summary.json"
    first = world.run(f"--summary-json={summary}")
    assert first.returncode == 0, first.stderr
    assert world.pages() == Counter(h * 100 + i for h in range(3) for i in range(5))
    assert "1 test event(s), 1 for other objects, 3 objects imported" in first.stderr
    figures = json.loads(summary.read_text())["queue_messages"]
    assert figures == {"received": 5, "test_events": 1, "other_objects": 1, "objects_imported": 3}
    assert counts(world.sqs, world.queue) == (0, 1)  # the other object's message, left (invisible for a while)

    again = world.run()
    assert again.returncode == 6, again.stderr  # nothing new
    world.sqs.purge_queue(QueueUrl=world.queue)


@pytest.mark.parametrize("world", [3], indirect=True)
def test_repeated_deliveries_and_a_reuploaded_object(world: World) -> None:
    key = f"cf/E2.{DAY}-10.a.gz"
    etag = world.put(key, hour_log(0, 6))
    body_size = len(hour_log(0, 6))
    send(world.sqs, world.queue, s3_event(world.bucket, key, body_size, etag))  # S3 delivers at least once
    first = world.run()
    assert first.returncode == 0, first.stderr
    assert "1 delivered again" in first.stderr

    # A copy delivered late, after the object was imported: deleted without reading it.
    send(world.sqs, world.queue, s3_event(world.bucket, key, body_size, etag))
    late = world.run()
    assert late.returncode == 6, late.stderr
    assert "1 delivered again" in late.stderr
    assert wait_empty(world.sqs, world.queue) == (0, 0)

    # The same key uploaded again with new content: a new ETag, imported.
    world.put(key, hour_log(500, 4))
    third = world.run()
    assert third.returncode == 0, third.stderr
    assert world.pages() == Counter([*range(6), *range(500, 504)])
    assert wait_empty(world.sqs, world.queue) == (0, 0)
    # The state keeps the objects under way only (none now), and the two versions in its record of recent ones.
    directory = Path(os.environ["IMPORT_LOGS_STATE_DIR"])
    state = json.loads(next(directory.glob("*.json")).read_text())
    assert state["sources"] == [] and len(state["recent"]) == 2


def test_keys_are_url_decoded_and_sns_envelopes_opened(world: World) -> None:
    key = "cf/E2 2026+11.gz"  # a space (+ in the notification) and a plus (%2B)
    etag = world.put(key, hour_log(0, 3))
    inner = s3_event(world.bucket, "cf/E2 2026+11b.gz", 0, "")
    world.put("cf/E2 2026+11b.gz", hour_log(10, 2))
    world.sqs.purge_queue(QueueUrl=world.queue)  # only the messages sent here
    time.sleep(0.2)
    send(world.sqs, world.queue, s3_event(world.bucket, key, 1, etag))
    send(world.sqs, world.queue, {"Type": "Notification", "MessageId": "m1", "Message": json.dumps(inner)})
    result = world.run()
    assert result.returncode == 0, result.stderr
    assert world.pages() == Counter([0, 1, 2, 10, 11])
    assert wait_empty(world.sqs, world.queue) == (0, 0)


@pytest.mark.parametrize("world", [2], indirect=True)
def test_poison_messages_are_named_and_deleted_after_max_receives(world: World) -> None:
    world.put(f"cf/E2.{DAY}-10.a.gz", hour_log(0, 4))
    world.put(f"cf/E2.{DAY}-11.a.gz", hour_log(100, 4, 11))
    world.s3.delete_object(Bucket=world.bucket, Key=f"cf/E2.{DAY}-11.a.gz")  # deleted since it was announced
    world.put(f"cf/E2.{DAY}-12.a.gz", b"\x1f\x8b\x08\x00damaged")  # not a whole gzip stream
    world.put(f"cf/E2.{DAY}-13.a.gz", gzip.compress(b"hello world\nthis is not a log\n" * 5))  # no known format
    send(world.sqs, world.queue, "this is not JSON")
    send(world.sqs, world.queue, {"hello": "world"})
    left = world.run()  # by default a message that cannot be processed comes back up to 5 times
    assert left.returncode == 3, left.stderr  # named: the good object was imported
    assert world.pages() == Counter(range(4))
    assert "deleted since it was announced" in left.stdout
    assert "not JSON" in left.stdout and "not an S3 event notification" in left.stdout
    assert f"s3://{world.bucket}/cf/E2.{DAY}-12.a.gz" in left.stdout
    assert f"s3://{world.bucket}/cf/E2.{DAY}-13.a.gz: of no known log format" in left.stdout
    assert "5 not processed, left" in left.stderr
    assert counts(world.sqs, world.queue) == (0, 5)

    for handle in _receive_all(world):
        world.sqs.change_message_visibility(QueueUrl=world.queue, ReceiptHandle=handle, VisibilityTimeout=0)
    deleted = world.run("--queue-max-receives=2")  # each was handed out twice now (the test's receive too)
    assert deleted.returncode == 3, deleted.stderr
    assert "5 not processed, deleted" in deleted.stderr
    assert wait_empty(world.sqs, world.queue) == (0, 0)
    assert world.pages() == Counter(range(4))


def _receive_all(world: World) -> list[str]:
    """Wait for the messages in flight to come back (their visibility timeout) and take their handles."""
    time.sleep(2.2)
    handles: list[str] = []
    for _ in range(5):
        got = world.sqs.receive_message(QueueUrl=world.queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        handles += [m["ReceiptHandle"] for m in got.get("Messages", [])]
        if len(handles) >= 4:
            break
    return handles


def test_messages_for_other_objects_deleted_when_asked(world: World) -> None:
    world.put("elsewhere/a.gz", hour_log(0, 2))
    result = world.run("--queue-other=delete")
    assert result.returncode == 6, result.stderr
    assert wait_empty(world.sqs, world.queue) == (0, 0)
    assert not world.fake.hits


def test_objects_announced_together_are_sent_in_one_time_order(world: World) -> None:
    """Two servers' logs of the same minutes, in two objects: their hits reach the tracker interleaved by time."""
    world.put(f"cf/E2.{DAY}-10.a.gz", log([(n, f"10:{n:02d}:00") for n in range(0, 40, 2)]))
    world.put(f"cf/E2.{DAY}-10.b.gz", log([(n, f"10:{n:02d}:00") for n in range(1, 40, 2)]))
    result = world.run()
    assert result.returncode == 0, result.stderr
    assert [int(hit["url"].rsplit("/", 1)[1]) for hit in world.fake.hits] == list(range(40))


@pytest.mark.parametrize("world", [2], indirect=True)
def test_a_visibility_timeout_shorter_than_one_object_is_extended(world: World) -> None:
    """The queue hands a message out again 2 s after it was received unless its visibility is extended; importing
    the object takes longer (a slow tracker). Another consumer polling meanwhile never gets it."""
    world.fake.track_delay = 0.4
    world.put(f"cf/E2.{DAY}-10.a.gz", hour_log(0, 40))
    proc = world.start("--recorder-max-payload-size=4")
    stolen = []
    try:
        while not world.fake.hits and proc.poll() is None:  # it took the message
            time.sleep(0.05)
        while proc.poll() is None:
            got = world.sqs.receive_message(
                QueueUrl=world.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=0
            )
            stolen += got.get("Messages", [])
            time.sleep(0.3)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert world.fake.track_delay * 10 > 2  # it took longer than the visibility timeout
    assert not [m for m in stolen if "E2" in m["Body"] and "10.a" in m["Body"]]
    assert world.pages() == Counter(range(40))
    assert wait_empty(world.sqs, world.queue) == (0, 0)


def test_follow_imports_objects_as_they_are_announced_until_sigterm(world: World) -> None:
    proc = world.start("--follow", "--flush-interval=1")
    try:
        for hour in range(3):
            world.put(f"cf/E2.{DAY}-{hour:02d}.a.gz", hour_log(hour * 100, 5, hour))
            deadline = time.monotonic() + 30
            while len(world.fake.hits) < 5 * (hour + 1) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(world.fake.hits) == 5 * (hour + 1)
        assert wait_empty(world.sqs, world.queue) == (0, 0)  # each message deleted as its object was done
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert world.pages() == Counter(h * 100 + i for h in range(3) for i in range(5))


@pytest.mark.parametrize("world", [2], indirect=True)
def test_kill_9_in_the_middle_then_a_rerun_loses_nothing(world: World) -> None:
    world.fake.track_delay = 0.05
    for hour in range(6):
        world.put(f"cf/E2.{DAY}-{hour:02d}.a.gz", hour_log(hour * 100, 20, hour))
    proc = world.start("--recorder-max-payload-size=5", "--recorders=2")
    try:
        deadline = time.monotonic() + 30
        while len(world.fake.hits) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    assert 0 < len(world.fake.hits) < 120
    time.sleep(2.5)  # the messages it held come back after their visibility timeout
    world.fake.track_delay = 0.0
    again = world.run("--recorder-max-payload-size=5", "--recorders=2")
    assert again.returncode == 0, again.stderr
    seen = world.pages()
    assert set(seen) == {h * 100 + i for h in range(6) for i in range(20)}  # 0 lost
    twice = sum(n - 1 for n in seen.values())
    assert twice <= 10  # at most the batches in flight: one per lane, announced
    if twice:
        assert "may have been accepted" in again.stderr
    assert wait_empty(world.sqs, world.queue) == (0, 0)


@pytest.mark.parametrize("world", [2], indirect=True)
def test_a_tracker_outage_never_deletes_a_message(world: World) -> None:
    from fake_server import Fault

    for hour in range(2):
        world.put(f"cf/E2.{DAY}-{hour:02d}.a.gz", hour_log(hour * 100, 5, hour))
    world.fake.fail_next("track", *[Fault(status=503) for _ in range(50)])
    down = world.run("--retry-max-attempts=2", "--retry-delay=0.01")
    assert down.returncode == 5, down.stderr  # the server keeps failing: the run stops
    assert counts(world.sqs, world.queue) == (0, 2)  # both messages held back, none deleted
    world.fake.faults["track"].clear()
    time.sleep(2.5)  # they come back after their visibility timeout
    up = world.run()
    assert up.returncode == 0, up.stderr
    assert world.pages() == Counter(h * 100 + i for h in range(2) for i in range(5))
    assert wait_empty(world.sqs, world.queue) == (0, 0)


def test_the_sqs_client_in_process(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Receive, extend, delete, and the errors that name the queue and the fix (in this process: measured)."""
    from s3_server import free_port

    from import_logs.errors import InputError
    from import_logs.sources.queue import QueueUnreachable, SqsQueue

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    sqs = sqs_client(endpoint)
    url = sqs.create_queue(QueueName="in-process", Attributes={"VisibilityTimeout": "9"})["QueueUrl"]
    queue = SqsQueue(url)  # the endpoint: the queue URL's own host
    assert queue.visibility_timeout() == 9
    send(sqs, url, s3_event("logs", "cf/a b.gz", 3, "e1"))
    send(sqs, url, "not json")
    got = queue.receive(1)
    assert sorted(m.error[:8] or m.parsed.created[0].key for m in got) == ["cf/a b.gz", "not JSON"]
    assert all(m.receives == 1 for m in got)
    assert queue.extend(got, 20) == []
    assert queue.delete(got) == []
    assert counts(sqs, url) == (0, 0)

    with pytest.raises(InputError, match=r"no such queue\. Check the queue URL"):
        SqsQueue(url.rsplit("/", 1)[0] + "/no-such-queue").visibility_timeout()
    closed = f"http://127.0.0.1:{free_port()}/123456789012/q"
    with pytest.raises(QueueUnreachable, match="cannot be reached"):
        quick = SqsQueue(closed)
        quick.client.meta.config.retries = {"max_attempts": 0}
        quick.visibility_timeout()
