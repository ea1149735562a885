"""A queue of new objects: S3 event notifications on an SQS queue (``--queue URL``), read through boto3, an
optional extra (``import-logs[sqs]``).

A message announces objects (``Records[].s3``; also wrapped in an SNS envelope, or as an EventBridge event); the
planner reads each announced object as an ordinary object source, and the message is deleted only once the state
says its objects are done: read to their end and every hit accepted. Until then a timer extends the message's
visibility, so that a large object or a slow tracker never makes SQS hand it to someone else.

Why boto3: it is well kept, has the full AWS credential chain (profiles, SSO, web identity, instance and
container roles), speaks SQS's JSON protocol, and reads ``AWS_ENDPOINT_URL(_SQS)`` itself; moto's server, which the
tests use, depends on it already.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from import_logs.errors import ConfigError, InputError
from import_logs.sources.cloud_auth import no_credentials

#: Messages asked for at once (SQS's maximum).
RECEIVE_AT_ONCE = 10
#: Longest wait of one receive (SQS's maximum for long polling).
LONGEST_POLL = 20
#: Without --follow: how long a receive waits before the queue counts as empty.
CRON_POLL = 1
_TRUE = ("1", "true", "yes", "on")


class BadMessage(ValueError):
    """A message that is not an S3 event notification (its reason in the text)."""


@dataclass(frozen=True)
class Announced:
    """An object a message announces."""

    bucket: str
    key: str
    size: int
    etag: str
    version: str | None = None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Parsed:
    """What a message says: the objects created, the other events it holds (removals...), or that it is a test
    event S3 sends when notifications are set up (``note`` then says what it is)."""

    created: tuple[Announced, ...] = ()
    others: tuple[str, ...] = ()
    note: str = ""


@dataclass
class Message:
    id: str
    handle: str
    #: How many times SQS has handed it out (this time included).
    receives: int
    body: str
    #: What it says, or why it cannot be read (``error``).
    parsed: Parsed = field(default_factory=Parsed)
    error: str = ""


def parse_body(body: str) -> Parsed:
    """An S3 event notification, plain or in an SNS envelope, or an EventBridge "Object Created" event."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BadMessage(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadMessage("not a JSON object")
    if data.get("Type") == "Notification" and "Message" in data:  # SNS, without raw message delivery
        inner = data["Message"]
        if not isinstance(inner, str):
            raise BadMessage("an SNS notification whose Message is not a string")
        return parse_body(inner) if inner.lstrip().startswith("{") else _not_s3("an SNS notification")
    if data.get("Type") in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        return Parsed(note=f"an SNS {data['Type']} (confirm the subscription with its SubscribeURL)")
    if data.get("Event") == "s3:TestEvent":
        return Parsed(note="the test event S3 sends when notifications are set up")
    if data.get("source") == "aws.s3" and "detail" in data:
        return _eventbridge(data)
    records = data.get("Records")
    if not isinstance(records, list) or not records:
        return _not_s3("a JSON object without Records")
    created: list[Announced] = []
    others: list[str] = []
    for n, record in enumerate(records):
        if not isinstance(record, dict):
            raise BadMessage(f"Records[{n}] is not an object")
        event = record.get("eventName")
        if not isinstance(event, str):
            raise BadMessage(f"Records[{n}] has no eventName")
        if not event.startswith("ObjectCreated:"):
            others.append(event)
            continue
        s3 = _dict(record.get("s3"), f"Records[{n}].s3")
        bucket = _dict(s3.get("bucket"), f"Records[{n}].s3.bucket").get("name")
        obj = _dict(s3.get("object"), f"Records[{n}].s3.object")
        key = obj.get("key")
        if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
            raise BadMessage(f"Records[{n}] names no bucket or no key")
        created.append(
            Announced(bucket, unquote_plus(key), _size(obj.get("size"), n), _etag(obj), obj.get("versionId") or None)
        )
    return Parsed(tuple(created), tuple(others))


def _eventbridge(data: dict[str, Any]) -> Parsed:
    kind = data.get("detail-type")
    if kind != "Object Created":
        return Parsed(others=(str(kind),))
    detail = _dict(data.get("detail"), "detail")
    bucket = _dict(detail.get("bucket"), "detail.bucket").get("name")
    obj = _dict(detail.get("object"), "detail.object")
    key = obj.get("key")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise BadMessage("detail names no bucket or no key")
    return Parsed((Announced(bucket, key, _size(obj.get("size"), 0), _etag(obj), obj.get("version-id") or None),))


def _not_s3(what: str) -> Parsed:
    raise BadMessage(f"{what}, not an S3 event notification")


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadMessage(f"{where} is missing or not an object")
    return value


def _size(value: Any, n: int) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadMessage(f"Records[{n}].s3.object.size is not a size ({value!r})")
    return value


def _etag(obj: dict[str, Any]) -> str:
    value = obj.get("eTag") or obj.get("etag") or ""
    return str(value).strip('"')


def read_message(raw: dict[str, Any]) -> Message:
    """A message as SQS returns it, parsed (or with the reason it cannot be)."""
    attributes = raw.get("Attributes") or {}
    message = Message(
        id=str(raw.get("MessageId", "")),
        handle=str(raw.get("ReceiptHandle", "")),
        receives=int(attributes.get("ApproximateReceiveCount", 1)),
        body=str(raw.get("Body", "")),
    )
    try:
        message.parsed = parse_body(message.body)
    except BadMessage as exc:
        message.error = str(exc)
    return message


def region_of(url: str) -> str | None:
    """``https://sqs.eu-west-1.amazonaws.com/123/q`` → ``eu-west-1``."""
    host = urlsplit(url).hostname or ""
    parts = host.split(".")
    if host.endswith(".amazonaws.com") and len(parts) >= 4 and parts[0] == "sqs":
        return parts[1]
    return None


def endpoint_for(url: str, given: str | None) -> str | None:
    """Where SQS requests go: ``AWS_ENDPOINT_URL_SQS``, else ``--s3-endpoint-url`` / ``AWS_ENDPOINT_URL`` (one
    endpoint for a test server or an S3-compatible store with queues), else the queue URL's own host when it is
    not AWS's, else AWS by region (None)."""
    env = os.environ
    chosen = env.get("AWS_ENDPOINT_URL_SQS") or given or env.get("AWS_ENDPOINT_URL")
    if chosen:
        return chosen
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname and not parts.hostname.endswith(".amazonaws.com"):
        return f"{parts.scheme}://{parts.netloc}"
    return None


class SqsQueue:
    """One SQS queue, through boto3 (imported here: an optional extra)."""

    def __init__(self, url: str, *, endpoint: str | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.path.strip("/"):
            raise ConfigError(
                f"--queue {url}: not a queue URL. Give it as SQS shows it, e.g. "
                "https://sqs.eu-west-1.amazonaws.com/123456789012/access-logs."
            )
        try:
            import boto3
            import botocore.session
            from botocore.config import Config as BotoConfig
        except ImportError:
            raise ConfigError(
                "--queue needs the SQS extra (boto3). Install it: pip install 'import-logs[sqs]' (in a clone: "
                "pip install '.[sqs]')."
            ) from None
        self.url = url
        self.endpoint = endpoint_for(url, endpoint)
        core = botocore.session.get_session()
        if self.endpoint or os.environ.get("AWS_EC2_METADATA_DISABLED", "").lower() in _TRUE:
            # An endpoint of its own (a test server, another store): an AWS instance role means nothing there.
            core.get_component("credential_provider").remove("iam-role")
        session = boto3.Session(botocore_session=core)
        region = region_of(url) or session.region_name or "us-east-1"
        self.client: Any = session.client(
            "sqs",
            region_name=region,
            endpoint_url=self.endpoint,
            config=BotoConfig(
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=10,
                read_timeout=LONGEST_POLL + 10,
            ),
        )

    def visibility_timeout(self) -> int:
        """The queue's visibility timeout (seconds): also a first request that says whether it can be used."""
        found = self._call("GetQueueAttributes", QueueUrl=self.url, AttributeNames=["VisibilityTimeout"]).get(
            "Attributes", {}
        )
        return int(found.get("VisibilityTimeout", 30))

    def receive(self, wait: int) -> list[Message]:
        answer = self._call(
            "ReceiveMessage",
            QueueUrl=self.url,
            MaxNumberOfMessages=RECEIVE_AT_ONCE,
            WaitTimeSeconds=max(0, min(LONGEST_POLL, wait)),
            AttributeNames=["ApproximateReceiveCount"],  # (boto3 >= 1.34 also names it MessageSystemAttributeNames)
        )
        return [read_message(raw) for raw in answer.get("Messages", [])]

    def delete(self, messages: Iterable[Message]) -> list[str]:
        """Delete messages, ten at a time; the ids of those SQS did not delete."""
        failed: list[str] = []
        for part in _tens(list(messages)):
            entries = [{"Id": str(n), "ReceiptHandle": m.handle} for n, m in enumerate(part)]
            answer = self._call("DeleteMessageBatch", QueueUrl=self.url, Entries=entries)
            failed.extend(part[int(f["Id"])].id for f in answer.get("Failed", []))
        return failed

    def extend(self, messages: Iterable[Message], seconds: int) -> list[str]:
        """Keep messages invisible for ``seconds`` more; the ids of those SQS did not extend."""
        failed: list[str] = []
        for part in _tens(list(messages)):
            entries = [
                {"Id": str(n), "ReceiptHandle": m.handle, "VisibilityTimeout": seconds} for n, m in enumerate(part)
            ]
            answer = self._call("ChangeMessageVisibilityBatch", QueueUrl=self.url, Entries=entries)
            failed.extend(part[int(f["Id"])].id for f in answer.get("Failed", []))
        return failed

    def _call(self, operation: str, **params: Any) -> Any:
        from botocore import exceptions

        method = getattr(self.client, _snake(operation))
        try:
            return method(**params)
        except exceptions.NoCredentialsError:
            raise no_credentials(self.url) from None
        except exceptions.ClientError as exc:
            raise self.failure(exc.response.get("Error", {}).get("Code", ""), str(exc)) from None
        except (exceptions.EndpointConnectionError, exceptions.ConnectionError) as exc:
            raise QueueUnreachable(
                self.url, f"cannot be reached ({exc})", "Check the queue URL, the network, and AWS_ENDPOINT_URL."
            ) from None
        except exceptions.BotoCoreError as exc:
            raise QueueUnreachable(
                self.url, f"cannot be used ({exc})", "Check the queue URL and the network."
            ) from None

    def failure(self, code: str, text: str) -> InputError:
        if "NonExistentQueue" in code or code == "QueueDoesNotExist":
            return InputError(self.url, "no such queue", "Check the queue URL (and the region it names).")
        if code in ("InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException"):
            return InputError(
                self.url,
                f"the credentials were refused ({code})",
                "Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or the instance's role.",
            )
        if code in ("AccessDenied", "AccessDeniedException"):
            return InputError(
                self.url,
                f"the credentials may not use this queue ({code})",
                "Allow sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility and "
                "sqs:GetQueueAttributes on it, or use other credentials.",
            )
        return QueueUnreachable(self.url, f"answered {code or 'an error'} ({text[:300]})", "Check the queue.")


class QueueUnreachable(InputError):
    """The queue did not answer (the network, the endpoint): a service waits it out."""


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _tens(items: list[Message]) -> list[list[Message]]:
    return [items[i : i + RECEIVE_AT_ONCE] for i in range(0, len(items), RECEIVE_AT_ONCE)]


class Every:
    """``fn()`` every ``period`` seconds on a thread of its own, until :meth:`stop`; an error of ``fn`` goes to
    ``on_error`` and the timer goes on (a visibility extension that failed once is tried again at the next turn)."""

    def __init__(self, period: float, fn: Callable[[], None], on_error: Callable[[Exception], None]) -> None:
        self.period = period
        self._fn = fn
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="import-logs-queue", daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._started:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self._fn()
            except Exception as exc:
                self._on_error(exc)
