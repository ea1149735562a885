"""The queue (--queue) in one process: reading S3 event notifications, the timer that extends visibility, and the
bookkeeping of a run's messages against a queue and a bucket of our own (no network), with a real state file."""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from import_logs.checkpoint import state as state_module
from import_logs.checkpoint.resume import Resume
from import_logs.checkpoint.state import StateFile
from import_logs.config import Config, QueueOptions, StateOptions
from import_logs.errors import ConfigError, ExitCode, InputError, StateFileError
from import_logs.pipeline import Importer
from import_logs.pipeline.queue_run import QueueRun
from import_logs.pipeline.runs import SourceRun
from import_logs.sources.kinds import ObjectSource
from import_logs.sources.objects import ObjectPattern, ObjectRef
from import_logs.sources.queue import Announced, BadMessage, Every, Message, endpoint_for, parse_body, read_message
from import_logs.stats import Stats

QUEUE = "http://127.0.0.1:9/123456789012/logs"


def record(key: str, *, event: str = "ObjectCreated:Put", size: Any = 10, etag: str = "abc") -> dict[str, Any]:
    return {
        "eventName": event,
        "s3": {"bucket": {"name": "logs"}, "object": {"key": key, "size": size, "eTag": etag}},
    }


@pytest.mark.parametrize(
    ("body", "created", "others", "note"),
    [
        ({"Records": [record("cf/a.gz")]}, [Announced("logs", "cf/a.gz", 10, "abc")], [], ""),
        # Keys are URL-encoded, + for a space.
        (
            {"Records": [record("cf/E2+2026%2B11%3A00.gz")]},
            [Announced("logs", "cf/E2 2026+11:00.gz", 10, "abc")],
            [],
            "",
        ),
        ({"Records": [record("a.gz", etag='"q"')]}, [Announced("logs", "a.gz", 10, "q")], [], ""),
        ({"Records": [record("a.gz", event="ObjectRemoved:Delete")]}, [], ["ObjectRemoved:Delete"], ""),
        ({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "logs"}, [], [], "test event"),
        # An SNS envelope (no raw message delivery): the notification is a JSON string in Message.
        (
            {"Type": "Notification", "Message": json.dumps({"Records": [record("b.gz")]})},
            [Announced("logs", "b.gz", 10, "abc")],
            [],
            "",
        ),
        ({"Type": "SubscriptionConfirmation", "SubscribeURL": "x"}, [], [], "SubscriptionConfirmation"),
        # EventBridge's form (its key is not encoded).
        (
            {
                "source": "aws.s3",
                "detail-type": "Object Created",
                "detail": {"bucket": {"name": "logs"}, "object": {"key": "c d.gz", "size": 5, "etag": "e"}},
            },
            [Announced("logs", "c d.gz", 5, "e")],
            [],
            "",
        ),
    ],
)
def test_notifications_are_read(body: dict[str, Any], created: list[Announced], others: list[str], note: str) -> None:
    parsed = parse_body(json.dumps(body))
    assert list(parsed.created) == created
    assert list(parsed.others) == others
    assert note in parsed.note and bool(note) == bool(parsed.note)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"hello": 1}', "without Records"),
        ('{"Records": []}', "without Records"),
        ('{"Records": [1]}', "Records[0] is not an object"),
        ('{"Records": [{"s3": {}}]}', "has no eventName"),
        ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', "Records[0].s3 is missing"),
        (json.dumps({"Records": [record("")]}), "names no bucket or no key"),
        (json.dumps({"Records": [record("a", size=-1)]}), "not a size"),
        ('{"Type": "Notification", "Message": 5}', "Message is not a string"),
        ('{"Type": "Notification", "Message": "plain text"}', "an SNS notification, not an S3"),
    ],
)
def test_what_is_not_a_notification_says_why(body: str, reason: str) -> None:
    with pytest.raises(BadMessage, match=re.escape(reason)):
        parse_body(body)


def test_a_message_as_sqs_returns_it() -> None:
    raw = {"MessageId": "m1", "ReceiptHandle": "h1", "Body": "{", "Attributes": {"ApproximateReceiveCount": "3"}}
    message = read_message(raw)
    assert (message.id, message.handle, message.receives) == ("m1", "h1", 3)
    assert message.error.startswith("not JSON")


def test_the_endpoint_of_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    assert endpoint_for("https://sqs.eu-west-1.amazonaws.com/1/q", None) is None  # AWS, by its region
    assert endpoint_for("http://127.0.0.1:4566/1/q", None) == "http://127.0.0.1:4566"  # its own host
    assert endpoint_for("https://sqs.eu-west-1.amazonaws.com/1/q", "http://127.0.0.1:9") == "http://127.0.0.1:9"
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:8")
    assert endpoint_for("http://127.0.0.1:4566/1/q", "http://127.0.0.1:9") == "http://127.0.0.1:8"


def test_the_timer_goes_on_after_an_error_and_stops_when_asked() -> None:
    calls: list[int] = []
    errors: list[Exception] = []
    three = threading.Event()

    def fn() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the queue did not answer")
        if len(calls) >= 3:
            three.set()

    timer = Every(0.01, fn, errors.append)
    timer.start()
    assert three.wait(5)
    timer.stop()
    after = len(calls)
    time.sleep(0.05)
    assert len(calls) == after  # stopped
    assert [str(e) for e in errors] == ["the queue did not answer"]


def test_a_missing_extra_names_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from import_logs.cli import exit_code_for
    from import_logs.sources.queue import SqsQueue

    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ConfigError, match=r"pip install 'import-logs\[sqs\]'") as raised:
        SqsQueue(QUEUE)
    assert exit_code_for(raised.value) == ExitCode.USAGE


def test_local_files_with_a_queue_are_refused(tmp_path: Path) -> None:
    config = Config(inputs=(str(tmp_path / "access.log"),), queue=QueueOptions(url=QUEUE))
    with pytest.raises(ConfigError, match="not files"):
        Importer(config).run()


# --- a run's messages, against a queue and a bucket of our own --------------------------------------------------


class FakeQueue:
    def __init__(self) -> None:
        self.waiting: list[Message] = []
        self.deleted: list[str] = []
        self.extended: list[tuple[str, int]] = []

    def receive(self, wait: int) -> list[Message]:
        out, self.waiting = self.waiting[:10], self.waiting[10:]
        return out

    def delete(self, messages: list[Message]) -> list[str]:
        self.deleted += [m.id for m in messages]
        return []

    def extend(self, messages: list[Message], seconds: int) -> list[str]:
        self.extended += [(m.id, seconds) for m in messages]
        return []

    def put(self, body: Any, *, receives: int = 1) -> str:
        n = f"m{len(self.waiting) + len(self.deleted) + 100}"
        raw = {"MessageId": n, "ReceiptHandle": "h-" + n, "Body": body if isinstance(body, str) else json.dumps(body)}
        message = read_message({**raw, "Attributes": {"ApproximateReceiveCount": str(receives)}})
        self.waiting.append(message)
        return n


class FakeBucket:
    def __init__(self, objects: dict[str, str]) -> None:
        self.objects = objects

    def head(self, key: str) -> ObjectRef | None:
        if key not in self.objects:
            return None
        return ObjectRef(f"s3://logs/{key}", key, 10, self.objects[key], None)


class FakeBuckets:
    def __init__(self, bucket: FakeBucket) -> None:
        self.bucket = bucket

    def get(self, name: str) -> FakeBucket:
        return self.bucket


@pytest.fixture
def stack() -> Any:
    with contextlib.ExitStack() as opened:
        yield opened


def queue_run(
    stack: contextlib.ExitStack, tmp_path: Path, objects: dict[str, str], **options: Any
) -> tuple[QueueRun, FakeQueue, StateFile]:
    config = Config(
        inputs=("s3://logs/cf/*.gz",),
        queue=QueueOptions(url=QUEUE, **options),
        state=StateOptions(path=str(tmp_path / "state.json")),
    )
    state = stack.enter_context(StateFile(str(tmp_path / "state.json"), "dest"))
    run = QueueRun(config, Stats(), lambda event: None, [ObjectPattern("s3://logs/cf/*.gz")], state=state, ledger=None)
    fake = FakeQueue()
    run.queue = fake  # type: ignore[assignment]
    run.buckets = FakeBuckets(FakeBucket(objects))  # type: ignore[assignment]
    return run, fake, state


def read_whole(run: QueueRun, state: StateFile, ref: ObjectRef, *, done: bool = True, failed: bool = False) -> None:
    """What the planner and the ledger do with an object: an entry, then done once every hit is accepted."""
    entry = state.add_object(ref.identity, ref.url)
    source_run = SourceRun(ObjectSource(0, ref.url, ref, ref.size), Resume(entry=entry))
    source_run.incomplete = failed
    run.read(ref, source_run)
    if done:
        state.update(entry, done=True)


def test_messages_are_deleted_once_their_objects_are_done_and_saved(
    stack: contextlib.ExitStack, tmp_path: Path
) -> None:
    run, fake, state = queue_run(stack, tmp_path, {"cf/a.gz": "e1", "cf/b.gz": "e2", "other/c.gz": "e3"})
    first = fake.put({"Records": [record("cf/a.gz", etag="e1")]})
    again = fake.put({"Records": [record("cf/a.gz", etag="e1")]})  # the same object, delivered twice
    second = fake.put({"Records": [record("cf/b.gz", etag="e2")]})
    test = fake.put({"Event": "s3:TestEvent"})
    other = fake.put({"Records": [record("other/c.gz", etag="e3")]})
    got, refs = run.take(0)
    assert other not in fake.deleted
    assert got == 5 and [r.key for r in refs] == ["cf/a.gz", "cf/b.gz"]  # a.gz read once
    assert fake.deleted == [test]  # the other object's message is left

    run.visibility = 7
    run.tick()  # no ledger: extends only
    assert sorted(fake.extended) == sorted([(first, 7), (again, 7), (second, 7)])

    read_whole(run, state, refs[0])
    read_whole(run, state, refs[1], done=False)  # its hits are not all accepted yet
    run.settle(lambda: False)
    assert fake.deleted == [test]  # the state could not be saved: nothing goes
    saved: list[bool] = []
    run.settle(lambda: saved.append(True) or True)
    assert saved and sorted(fake.deleted) == sorted([test, first, again])
    assert [e.path for e in state.entries] == ["s3://logs/cf/b.gz"]  # only the object under way is kept
    assert state.recently_done("s3://logs/cf/a.gz", "e1")

    # Delivered once more later: deleted without reading it; a new upload (new ETag) is read.
    late = fake.put({"Records": [record("cf/a.gz", etag="e1")]})
    run.buckets.bucket.objects["cf/a.gz"] = "e9"  # type: ignore[attr-defined]
    new = fake.put({"Records": [record("cf/a.gz", etag="e9")]})
    got, refs = run.take(0)
    assert [r.etag for r in refs] == ["e9"] and late in fake.deleted and new not in fake.deleted


def test_messages_that_cannot_be_processed(stack: contextlib.ExitStack, tmp_path: Path) -> None:
    run, fake, state = queue_run(stack, tmp_path, {"cf/bad.gz": "e1"}, max_receives=3)
    malformed = fake.put("{oops", receives=1)
    malformed_last = fake.put("{oops", receives=3)
    gone = fake.put({"Records": [record("cf/gone.gz", etag="e2")]}, receives=3)
    damaged = fake.put({"Records": [record("cf/bad.gz", etag="e1")]}, receives=2)
    replaced = fake.put({"Records": [record("cf/bad.gz", etag="old")]})  # a newer version announces itself
    _, refs = run.take(0)
    assert sorted(fake.deleted) == sorted([malformed_last, replaced])  # the first malformed comes back
    run.settle(lambda: True)
    assert gone in fake.deleted  # deleted since it was announced, handed out 3 times: deleted
    read_whole(run, state, refs[0], done=False, failed=True)
    run.settle(lambda: True)
    assert damaged not in fake.deleted and not run.held  # left to come back, no longer extended
    assert f"{QUEUE} message {malformed}" in run.stats.unreadable
    assert run.stats.unreadable["s3://logs/cf/gone.gz"] == "deleted since it was announced"
    assert run.counts["poison_deleted"] == 2 and run.counts["poison_left"] == 2


class UnreachableBucket(FakeBucket):
    def head(self, key: str) -> ObjectRef | None:
        raise InputError(f"s3://logs/{key}", "cannot be read from s3://logs (connection reset)", "Check the store.")


def test_a_store_that_fails_never_gets_a_message_deleted(stack: contextlib.ExitStack, tmp_path: Path) -> None:
    """The store unreachable, or the credentials refused, is not the message's fault: however often it came back
    (a tracker outage over five cron runs), it is left to come back, as for a tracker outage."""
    run, fake, state = queue_run(stack, tmp_path, {"cf/a.gz": "e1", "cf/b.gz": "e2"}, max_receives=5)
    run.buckets = FakeBuckets(UnreachableBucket({}))  # type: ignore[assignment]
    at_head = fake.put({"Records": [record("cf/a.gz", etag="e1")]}, receives=7)
    assert run.take(0) == (1, [])
    run.settle(lambda: True)
    assert at_head not in fake.deleted and not run.held
    assert run.counts["store_errors"] == 1 and not run.counts["poison_deleted"]
    # The same when its fetch fails for the store's sake (its HEAD answered).
    run.buckets = FakeBuckets(FakeBucket({"cf/b.gz": "e2"}))  # type: ignore[assignment]
    at_fetch = fake.put({"Records": [record("cf/b.gz", etag="e2")]}, receives=7)
    (ref,) = run.take(0)[1]
    entry = state.add_object(ref.identity, ref.url)
    failed = SourceRun(ObjectSource(0, ref.url, ref, ref.size), Resume(entry=entry))
    failed.incomplete = True
    run.read(ref, failed, store_fault=True)
    run.settle(lambda: True)
    assert at_fetch not in fake.deleted and run.counts["store_errors"] == 2


def test_messages_for_other_objects_can_be_deleted(stack: contextlib.ExitStack, tmp_path: Path) -> None:
    run, fake, _ = queue_run(stack, tmp_path, {}, other="delete")
    other = fake.put({"Records": [record("elsewhere/a.gz")]})
    removed = fake.put({"Records": [record("cf/a.gz", event="ObjectRemoved:Delete")]})
    assert run.take(0) == (2, [])
    assert fake.deleted == [other, removed]


def test_the_record_of_recent_objects_is_bounded_and_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_module, "RECENT_KEPT", 3)
    path = str(tmp_path / "state.json")
    with StateFile(path, "dest") as state:
        state.remember([(f"s3://logs/{n}.gz", "e", None) for n in range(5)])
        state.save(clean=True)
    with StateFile(path, "dest") as state:
        assert [state.recently_done(f"s3://logs/{n}.gz", "e") for n in range(5)] == [False, False, True, True, True]
    data = json.loads(Path(path).read_text())
    data["recent"] = [["k", 5]]
    Path(path).write_text(json.dumps(data))
    damaged = r"recent is \[\['k', 5\]\], not a list of \[key, date\] pairs"
    with pytest.raises(StateFileError, match=damaged), StateFile(path, "dest"):
        pass
