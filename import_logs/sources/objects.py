"""Logs in object storage: ``s3://bucket/prefix/*.gz`` (AWS S3 and S3-compatible stores: MinIO, R2, Google Cloud
Storage's XML API) and ``az://container/prefix/*.gz`` (Azure Blob Storage), read through obstore, an optional
extra (``import-logs[s3]``).

A pattern is listed page by page (never the whole bucket in memory), its glob applied to each key; an object is
known in the state by its URL, version (ETag or generation) and size, so a re-run reads only new objects and an
object uploaded again under the same key is new content. Objects are fetched a few at once, ahead of the one being
parsed, so that the store's latency does not starve the workers; a fetch that fails half-way is done again (an
object is parsed only once it is whole) or, for a large one read as a stream, resumed where it broke.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from import_logs.errors import InputError
from import_logs.sources.cloud_auth import CREDENTIALS, INSTANCE_METADATA, no_credentials, s3_credentials

SCHEMES = ("s3://", "gs://", "az://")
#: Objects up to this size are fetched whole, ahead of their turn; larger ones are streamed when their turn comes.
FETCH_WHOLE = 8 << 20
#: Objects fetched at once, ahead of the one being parsed.
FETCH_AHEAD = 8
#: Attempts at one object (or, streaming, at each piece of it) before it is named as unreadable.
ATTEMPTS = 4
_STREAM_CHUNK = 1 << 20


#: A date in a key, with its hour and minute when given: CloudFront's ``E2ABC.2026-11-29-10.1a2b.gz``, an ALB's
#: ``..._20261129T1005Z_...``, Logpush's ``20261129/20261129T100000Z_...``.
_KEY_TIME = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?:[-T_]?(\d{2})(?::?(\d{2}))?)?")


def key_time(key: str) -> float | None:
    """The time an object's name gives (its file name's first valid date, down to its hour and minute when there),
    as Unix seconds in UTC; None when the name gives none."""
    name = key.rsplit("/", 1)[-1]
    for found in _KEY_TIME.finditer(name):
        year, month, day, hour, minute = (int(part) if part else 0 for part in found.groups())
        try:
            return datetime(year, month, day, hour, minute, tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    return None


def is_object_url(text: str) -> bool:
    return text.startswith(SCHEMES)


@dataclass(frozen=True)
class ObjectPattern:
    """An input naming objects: a key, a "directory" (prefix/), or a glob (``*``, ``?``, ``[...]``, ``**``)."""

    url: str


@dataclass(frozen=True)
class ObjectRef:
    url: str
    key: str
    size: int
    #: The ETag (S3, Azure) or generation (GCS), and the version id where the store keeps versions.
    etag: str
    version: str | None
    #: When it was last modified (seconds since 1970; 0 when the store did not say).
    modified: float = 0.0

    @property
    def identity(self) -> str:
        """What names this content in the state: URL, version and size."""
        return f"{self.url}\0{self.version or self.etag}\0{self.size}"


def split_url(url: str) -> tuple[str, str, str]:
    """``s3://bucket/key`` → ``("s3", "bucket", "key")``."""
    scheme, rest = url.split("://", 1)
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise InputError(url, "names no bucket", f"Write it as {scheme}://BUCKET/PREFIX/*.gz.")
    return scheme, bucket, key


_WILDCARD = re.compile(r"[*?\[]")


def key_matcher(pattern: str) -> tuple[str, Callable[[str], bool]]:
    """The prefix to list and the test of each key: ``*`` and ``?`` stay within a ``/``, ``**`` crosses them; a
    pattern without any names one key, or every key under it as a directory."""
    magic = _WILDCARD.search(pattern)
    if magic is None:
        below = pattern.rstrip("/") + "/"
        return pattern.rstrip("/"), lambda key: key == pattern or key.startswith(below)
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    regex = re.compile("".join(out))
    # The store lists whole path segments: the folder before the first wildcard.
    return pattern[: magic.start()].rpartition("/")[0], lambda key: regex.fullmatch(key) is not None


class Bucket:
    """One bucket (or container) of a store, with the credentials of the environment's standard chain."""

    def __init__(self, scheme: str, name: str, *, endpoint: str | None = None) -> None:
        try:
            import obstore  # noqa: F401 - an optional extra
            from obstore import store as stores
        except ImportError:
            raise InputError(
                f"{scheme}://{name}",
                "needs the object storage extra",
                "Install the extra: pip install 'import-logs[s3]' (in a clone: pip install '.[s3]').",
            ) from None
        self.scheme, self.name = scheme, name
        options: dict[str, Any] = {"timeout": "60s", "connect_timeout": "10s"}
        retry = {"max_retries": 3, "retry_timeout": timedelta(seconds=60)}
        self.endpoint = endpoint
        if scheme == "s3":
            self.endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            config: dict[str, Any] = {}
            if self.endpoint:
                config["endpoint"] = self.endpoint
                options["allow_http"] = self.endpoint.startswith("http://")
            provider = s3_credentials(f"s3://{name}", config, endpoint=self.endpoint)
            self.store: Any = _make(stores.S3Store)(
                name, config=config, client_options=options, retry_config=retry, credential_provider=provider
            )
        elif scheme == "gs":
            # No GCS emulator that obstore can talk to could be installed from the package registries to test
            # it, so GCS goes through its S3-compatible XML API, which the S3 tests cover.
            raise InputError(
                f"gs://{name}",
                "is read through Google Cloud Storage's S3-compatible API",
                f"Give s3://{name}/... with --s3-endpoint-url=https://storage.googleapis.com, and an HMAC key of a "
                "service account in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
            )
        elif scheme == "az":
            try:
                self.store = _make(stores.AzureStore)(name, client_options=options, retry_config=retry)
            except Exception as exc:  # no account named in the environment, typically
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise InputError(
                    f"az://{name}", f"cannot be opened: no usable Azure account ({first[:200]})", CREDENTIALS["az"]
                ) from None
        else:  # pragma: no cover - is_object_url decides
            raise InputError(f"{scheme}://{name}", "is not a known store", "Use s3://, gs:// or az://.")

    @property
    def kind(self) -> str:
        return "container" if self.scheme == "az" else "bucket"

    def where(self) -> str:
        return f"{self.scheme}://{self.name}"

    def list(self, pattern: str, *, after: str | None = None, named: tuple[str, ...] = ()) -> Iterator[ObjectRef]:
        """The objects whose keys match, in key order (a log's objects are named by time), page by page; with
        ``after``, only those whose keys come after it (the store is asked for no others), the keys ``named``
        (below it) first, asked for one by one."""
        import obstore

        prefix, matches = key_matcher(pattern)
        try:
            if pattern and not _WILDCARD.search(pattern) and not pattern.endswith("/"):
                one = self._head(pattern)
                if one is not None:  # one object named: no listing
                    yield one
                    return
            for key in named:
                ref = self._head(key)
                if ref is not None:  # else deleted since
                    yield ref
            for page in obstore.list(self.store, prefix=prefix or None, offset=after or None, chunk_size=1000):
                for meta in page:
                    if matches(meta["path"]):
                        yield self._ref(meta)
        except Exception as exc:
            raise self.failure(exc, f"{self.where()}/{pattern}") from None

    def head(self, key: str) -> ObjectRef | None:
        """One object by its key, as it is now; None when there is none."""
        try:
            return self._head(key)
        except Exception as exc:
            raise self.failure(exc, f"{self.where()}/{key}") from None

    def _head(self, key: str) -> ObjectRef | None:
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            meta = obstore.head(self.store, key)
        except (NotFoundError, FileNotFoundError):  # obstore raises the latter for a 404
            return None
        return self._ref(meta)

    def _ref(self, meta: Any) -> ObjectRef:
        key = meta["path"]
        modified = meta.get("last_modified")
        return ObjectRef(
            f"{self.where()}/{key}",
            key,
            meta["size"],
            (meta.get("e_tag") or "").strip('"'),
            meta.get("version"),
            modified.timestamp() if modified is not None else 0.0,
        )

    def fetch(self, ref: ObjectRef) -> bytes:
        """A whole object, tried again when the connection breaks half-way."""
        import obstore

        get: Any = obstore.get
        return self.attempt(lambda: bytes(get(self.store, ref.key, options=self._same(ref)).bytes()), ref.url)

    def attempt(self, read: Callable[[], bytes], url: str, *, again: Callable[[], None] = lambda: None) -> bytes:
        """``read()``, tried again after a connection fault (``again()`` first: reset what it broke), up to
        ATTEMPTS times; the last fault, or any other, as one message naming the object and the fix."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return read()
            except Exception as exc:
                again()
                if attempt == ATTEMPTS or not _transient(exc):
                    raise self.failure(exc, url) from None
                time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    def stream(self, ref: ObjectRef) -> ObjectStream:
        return ObjectStream(self, ref)

    def _same(self, ref: ObjectRef, offset: int = 0) -> dict[str, Any]:
        """Get options: this version of the object only (an object replaced meanwhile is not mixed in)."""
        options: dict[str, Any] = {}
        if ref.etag and self.scheme != "gs":
            options["if_match"] = f'"{ref.etag}"'
        if offset:
            options["range"] = {"offset": offset}
        return options

    def failure(self, exc: Exception, url: str) -> InputError:
        """One message that names the bucket and the fix (credentials are never shown)."""
        text = str(exc)
        code = re.search(r"<Code>(\w+)</Code>", text)
        name = code.group(1) if code else type(exc).__name__
        where = f" at {self.endpoint}" if self.endpoint else ""
        if name in ("NoSuchBucket", "ContainerNotFound"):
            return InputError(
                url,
                f"the {self.kind} {self.name} does not exist{where}",
                "Check the bucket's name"
                + (
                    ", and --s3-endpoint-url (or AWS_ENDPOINT_URL) for an S3-compatible store."
                    if self.scheme == "s3"
                    else "."
                ),
            )
        if name == "NoSuchKey" or name == "NotFoundError":
            return InputError(url, "no such object (deleted since it was listed?)", "Run the import again.")
        if name in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "UnauthenticatedError", "AuthenticationFailed") or (
            "credential" in text.lower()
        ):
            return InputError(
                url,
                f"the credentials were refused by {self.where()}{where} ({name})",
                CREDENTIALS[self.scheme],
            )
        if self.scheme == "s3" and any(probe in text for probe in INSTANCE_METADATA):
            return no_credentials(url, "and no instance role answered at the instance-metadata address")
        if name in ("AccessDenied", "PermissionDeniedError", "AuthorizationFailure"):
            return InputError(
                url,
                f"the credentials may not read the {self.kind} {self.name} ({name})",
                "Allow listing the bucket and reading its objects (s3:ListBucket, s3:GetObject), or use other "
                "credentials.",
            )
        if name in ("PreconditionError", "PreconditionFailed"):
            return InputError(url, "was replaced while it was read", "Run the import again: it reads the new one.")
        first = text.strip().splitlines()[0] if text.strip() else name
        return InputError(
            url,
            f"cannot be read from {self.where()}{where} ({first[:300]})",
            "Check that the store is reachable from here"
            + (" and --s3-endpoint-url (or AWS_ENDPOINT_URL)." if self.scheme == "s3" else "."),
        )


def _make(cls: Any) -> Any:
    """A store class, called with plain dicts (its TypedDicts are for type checkers only)."""
    return cls


def _transient(exc: Exception) -> bool:
    """A fault worth another attempt: the connection, not the request."""
    text = str(exc).lower()
    return not re.search(r"<code>(nosuch|accessdenied|invalidaccess|signature)", text) and any(
        word in text for word in ("connection", "reset", "broken pipe", "timed out", "timeout", "incomplete", "eof")
    )


class ObjectStream(io.RawIOBase):
    """An object read as a stream in pieces, each piece tried again where the connection broke."""

    def __init__(self, bucket: Bucket, ref: ObjectRef) -> None:
        super().__init__()
        self.bucket, self.ref = bucket, ref
        self.position = 0
        self._buffer = b""
        self._chunks: Iterator[Any] | None = None

    def readable(self) -> bool:
        return True

    def again(self) -> ObjectStream:
        """The same object read from its start, apart from this reading."""
        return ObjectStream(self.bucket, self.ref)

    def tell(self) -> int:
        return self.position

    def _next(self) -> bytes:
        """The next piece; after a fault, asked again from the first byte not yet fetched."""
        return self.bucket.attempt(self._piece, self.ref.url, again=self._reset)

    def _piece(self) -> bytes:
        import obstore

        if self._chunks is None:
            get: Any = obstore.get
            got = get(self.bucket.store, self.ref.key, options=self.bucket._same(self.ref, self.fetched))
            self._chunks = iter(got.stream(min_chunk_size=_STREAM_CHUNK))
        return bytes(next(self._chunks, b""))

    def _reset(self) -> None:
        self._chunks = None

    @property
    def fetched(self) -> int:
        return self.position + len(self._buffer)

    def readinto(self, target: Any) -> int:
        if not self._buffer:
            if self.fetched >= self.ref.size:
                return 0
            self._buffer = self._next()
            if not self._buffer:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        self.position += n
        return n


class Fetcher(Protocol):
    """What fetches objects: a :class:`Bucket`, or the buckets of a queue's objects."""

    def fetch(self, ref: ObjectRef) -> bytes: ...

    def stream(self, ref: ObjectRef) -> ObjectStream: ...


def fetch_ahead(
    bucket: Fetcher, refs: Iterator[ObjectRef], ahead: int = FETCH_AHEAD
) -> Iterator[tuple[ObjectRef, Any]]:
    """Each object with its body: ``bytes`` fetched ahead by a few threads, or an :class:`ObjectStream` for a
    large one. The error of a fetch comes with its object, in order."""
    with ThreadPoolExecutor(max(1, ahead), thread_name_prefix="import-logs-fetch") as pool:
        window: deque[tuple[ObjectRef, Future[bytes] | None]] = deque()
        try:
            for ref in refs:
                window.append((ref, pool.submit(bucket.fetch, ref) if ref.size <= FETCH_WHOLE else None))
                if len(window) >= ahead:
                    yield _ready(bucket, *window.popleft())
            while window:
                yield _ready(bucket, *window.popleft())
        finally:
            for _, future in window:
                if future is not None:
                    future.cancel()


def _ready(bucket: Fetcher, ref: ObjectRef, future: Future[bytes] | None) -> tuple[ObjectRef, Any]:
    if future is None:
        return ref, bucket.stream(ref)
    try:
        return ref, future.result()
    except InputError as exc:
        return ref, exc
