"""Object storage as a source, against a real S3 API on 127.0.0.1 (moto's server mode, started here): a bucket of
gzipped CloudFront logs imported by the real command, again after new objects came, every line exactly once;
missing buckets, refused credentials, damaged objects and connections cut in the middle of an object."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("obstore")
pytest.importorskip("moto")

from conftest import SECRET_ENV, piwik_args, run_cli
from fake_server import FakePiwikPro
from s3_server import CREDENTIALS, CuttingProxy, client, moto_server

from import_logs.config import Config, StateOptions
from import_logs.pipeline import Importer
from import_logs.sources.objects import key_matcher

HEADER = (
    "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header "
    "cs-protocol cs-bytes time-taken\n"
)


def cloudfront(first: int, count: int) -> bytes:
    """A CloudFront standard log with pages ``/p/first`` … (one hit each)."""
    rows = [
        f"2026-11-29\t10:{n % 60:02d}:00\tFRA56-P1\t5120\t203.0.113.{n % 200}\tGET\td1.cloudfront.net\t/p/{n}\t200\t-\t"
        f"Mozilla/5.0%2520(X11)\t-\t-\tHit\tid{n}==\twww.example.com\thttps\t301\t0.040\n"
        for n in range(first, first + count)
    ]
    return (HEADER + "".join(rows)).encode()


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3: str, request: pytest.FixtureRequest) -> tuple[Any, str]:
    name = "logs-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    c = client(s3)
    c.create_bucket(Bucket=name)
    return c, name


def env(endpoint: str) -> dict[str, str]:
    return {**SECRET_ENV, **CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}


def pages(fake: FakePiwikPro) -> Counter[int]:
    return Counter(int(hit["url"].rsplit("/", 1)[1]) for hit in fake.hits)


def put_logs(c: Any, name: str, days: range, per_object: int = 4) -> int:
    """One object per hour of each day; returns the number of lines."""
    n = 0
    for day in days:
        for hour in range(24):
            key = f"cloudfront/E2ABC.2026-11-{day:02d}-{hour:02d}.a1b2c3.gz"
            c.put_object(Bucket=name, Key=key, Body=gzip.compress(cloudfront(day * 1000 + hour * 10, per_object)))
            n += per_object
    return n


def expected(days: range, per_object: int = 4) -> list[int]:
    return sorted(day * 1000 + hour * 10 + i for day in days for hour in range(24) for i in range(per_object))


def test_a_bucket_imported_by_cron_sends_every_line_once(s3: str, bucket: tuple[Any, str], tmp_path: Path) -> None:
    c, name = bucket
    put_logs(c, name, range(1, 11))  # 240 objects
    c.put_object(Bucket=name, Key="elsewhere/other.log", Body=b"not ours\n")
    url = f"s3://{name}/cloudfront/E2ABC.2026-11-*.gz"
    with FakePiwikPro() as fake:
        first = run_cli(*piwik_args(fake), url, cwd=tmp_path, env=env(s3))
        assert first.returncode == 0, first.stderr
        assert sorted(pages(fake)) == expected(range(1, 11))
        assert "in 240 files" in first.stdout

        again = run_cli(*piwik_args(fake), url, cwd=tmp_path, env=env(s3))  # nothing new: no object is fetched
        assert again.returncode == 6, again.stderr  # nothing new
        assert "240 of its 240 objects were imported before" in again.stderr

        put_logs(c, name, range(11, 14))  # 72 new objects, and one object uploaded again with new lines
        c.put_object(
            Bucket=name, Key="cloudfront/E2ABC.2026-11-01-00.a1b2c3.gz", Body=gzip.compress(cloudfront(99000, 3))
        )
        third = run_cli(*piwik_args(fake), url, cwd=tmp_path, env=env(s3))
        assert third.returncode == 0, third.stderr
    seen = pages(fake)
    assert sorted(seen) == sorted([*expected(range(1, 14)), 99000, 99001, 99002])
    assert max(seen.values()) == 1


def test_a_bucket_run_killed_before_its_first_accepted_batch_announces_its_own_bound(
    s3: str, bucket: tuple[Any, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Objects are journaled, not snapshotted: the bound a run may leave in flight is journaled before it sends,
    or the next run reads the bound of the run before (here none: it ended clean) and warns of nothing."""
    import subprocess
    import time

    from fake_server import Fault
    from test_resume import start

    c, name = bucket
    put_logs(c, name, range(1, 2))
    url = f"s3://{name}/cloudfront/E2ABC.2026-11-*.gz"
    with FakePiwikPro() as fake:
        args = [*piwik_args(fake, "--recorders=2", "--recorder-max-payload-size=4"), url]
        assert run_cli(*args, cwd=tmp_path, env=env(s3)).returncode == 0
        put_logs(c, name, range(2, 4))
        fake.fail_next("track", Fault(hang=True, store=True), Fault(hang=True, store=True))
        sent = len(fake.tracking_requests())
        for key, value in env(s3).items():
            monkeypatch.setenv(key, value)
        killed = start(args, tmp_path, output=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while len(fake.tracking_requests()) < sent + 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        killed.kill()
        killed.wait(timeout=10)
        stored = len(fake.hits)
        again = run_cli(*args, cwd=tmp_path, env=env(s3))
        assert again.returncode == 0, again.stderr
    seen = pages(fake)
    assert sorted(seen) == expected(range(1, 4))
    resent = sum(n - 1 for n in seen.values())
    assert resent == 8 and stored > 96  # both hanging batches were stored, and are sent again
    assert "up to 8 of its hits may have been accepted" in again.stderr


def test_a_missing_bucket_names_the_bucket_and_the_fix(s3: str, tmp_path: Path) -> None:
    with FakePiwikPro() as fake:
        result = run_cli(*piwik_args(fake), "s3://no-such-bucket/logs/*.gz", cwd=tmp_path, env=env(s3))
    assert result.returncode == 3, result.stderr
    assert "the bucket no-such-bucket does not exist at " + s3 in result.stderr
    assert "AWS_ENDPOINT_URL" in result.stderr
    assert not fake.hits


def test_no_matching_object_is_an_input_error(s3: str, bucket: tuple[Any, str], tmp_path: Path) -> None:
    _, name = bucket
    with FakePiwikPro() as fake:
        result = run_cli(*piwik_args(fake), f"s3://{name}/cloudfront/*.gz", cwd=tmp_path, env=env(s3))
    assert result.returncode == 3
    assert "no object matches this pattern" in result.stderr


def test_refused_credentials_are_named_and_never_printed(tmp_path: Path) -> None:
    with moto_server(INITIAL_NO_AUTH_ACTION_COUNT="0") as endpoint, FakePiwikPro() as fake:
        result = run_cli(
            *piwik_args(fake),
            "--s3-endpoint-url",
            endpoint,
            "s3://logs/cloudfront/*.gz",
            cwd=tmp_path,
            env={**env("http://unused.invalid"), "AWS_SECRET_ACCESS_KEY": "very-secret-value"},
        )
    assert result.returncode == 3, result.stderr
    assert "the credentials were refused" in result.stderr
    assert "AWS_ACCESS_KEY_ID" in result.stderr
    assert "very-secret-value" not in result.stderr + result.stdout


def test_a_damaged_object_is_named_and_the_others_imported(s3: str, bucket: tuple[Any, str], tmp_path: Path) -> None:
    c, name = bucket
    c.put_object(Bucket=name, Key="cf/a.gz", Body=gzip.compress(cloudfront(0, 5)))
    c.put_object(Bucket=name, Key="cf/b.gz", Body=gzip.compress(cloudfront(100, 400))[:900])  # cut short
    c.put_object(Bucket=name, Key="cf/c.gz", Body=gzip.compress(cloudfront(200, 5)))
    with FakePiwikPro() as fake:
        result = run_cli(*piwik_args(fake), f"s3://{name}/cf/", cwd=tmp_path, env=env(s3))
    assert f"s3://{name}/cf/b.gz: ends early" in result.stderr
    seen = pages(fake)
    assert {*range(5), *range(200, 205)} <= set(seen)
    assert max(seen.values()) == 1
    assert result.returncode != 0  # a file not read whole is said by the exit code


@pytest.mark.parametrize("whole", [True, False])
def test_a_connection_cut_in_an_object_sends_nothing_twice(
    s3: str, bucket: tuple[Any, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: bool
) -> None:
    c, name = bucket
    body = gzip.compress(cloudfront(0, 3000), compresslevel=1)
    c.put_object(Bucket=name, Key="cf/big.gz", Body=body)
    proxy = CuttingProxy(s3)
    proxy.cut("big.gz", len(body) // 2)
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    if not whole:  # streamed in pieces: resumed where the connection broke
        monkeypatch.setattr("import_logs.sources.objects.FETCH_WHOLE", 0)
        monkeypatch.setattr("import_logs.sources.objects._STREAM_CHUNK", 4096)
    config = Config(
        inputs=(f"s3://{name}/cf/big.gz",),
        workers=1,
        save_requests=str(tmp_path / "out.jsonl"),
        s3_endpoint=proxy.url,
        state=StateOptions(directory=str(tmp_path / "state")),
    )
    stats = Importer(config).run()
    proxy.close()
    assert proxy.cuts == 1
    assert stats.lines == 3002 and stats.kept == 3000
    assert not stats.unreadable


def test_gcs_is_read_through_its_s3_api(tmp_path: Path) -> None:
    result = run_cli("--dry-run", "gs://logs/lb/*.json.gz", cwd=tmp_path)
    assert result.returncode == 3
    assert "s3://logs/... with --s3-endpoint-url=https://storage.googleapis.com" in result.stderr


def test_key_patterns() -> None:
    prefix, match = key_matcher("cloudfront/E2ABC.2026-11-*.gz")
    assert prefix == "cloudfront"
    assert match("cloudfront/E2ABC.2026-11-30-14.abc.gz")
    assert not match("cloudfront/sub/E2ABC.2026-11-30-14.abc.gz")
    assert not match("cloudfront/E2ABC.2026-10-30-14.abc.gz")
    prefix, match = key_matcher("AWSLogs/**/elasticloadbalancing/*/2026/11/??/*.log.gz")
    assert prefix == "AWSLogs"
    assert match("AWSLogs/123/elasticloadbalancing/eu-west-1/2026/11/30/x_20261130T1405Z.log.gz")
    prefix, match = key_matcher("logs/")
    assert prefix == "logs" and match("logs/a.gz") and not match("logsx/a.gz")
    prefix, match = key_matcher("logs/a.gz")
    assert match("logs/a.gz") and not match("logs/a.gz.1")
    _, match = key_matcher("x/[!a]*.gz")
    assert match("x/b.gz") and not match("x/a.gz")


def test_without_the_extra_the_message_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def no_obstore(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "obstore" or name.startswith("obstore."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_obstore)
    config = Config(inputs=("s3://logs/a.gz",), workers=1, dry_run=True)
    with pytest.raises(Exception, match=r"pip install 'import-logs\[s3\]'"):
        Importer(config).run()
    assert os.environ.get("AWS_SECRET_ACCESS_KEY") != "very-secret-value"


def test_an_azure_container_imported_twice_sends_every_line_once(tmp_path: Path) -> None:
    """az:// through Azurite (from the npm registry), the same interface as s3://."""
    from s3_server import azurite, azurite_command, create_container

    command = azurite_command()
    if command is None:
        pytest.skip("Azurite is not installed and npm is not available to install it")
    import obstore
    from obstore.store import AzureStore

    azure_env = {"AZURE_STORAGE_USE_EMULATOR": "true"}
    with azurite(command, str(tmp_path / "azurite")) as url, FakePiwikPro() as fake:
        azure_env["AZURITE_BLOB_STORAGE_URL"] = url
        create_container(url, "logs")
        os.environ.update(azure_env)
        try:
            store = AzureStore("logs")
            for hour in range(6):
                obstore.put(store, f"fd/2026/11/29/{hour:02d}.log.gz", gzip.compress(cloudfront(hour * 10, 4)))
        finally:
            for key in azure_env:
                os.environ.pop(key, None)
        first = run_cli(*piwik_args(fake), "az://logs/fd/2026/11/*/*.gz", cwd=tmp_path, env={**SECRET_ENV, **azure_env})
        assert first.returncode == 0, first.stderr
        os.environ.update(azure_env)
        try:
            obstore.put(AzureStore("logs"), "fd/2026/11/30/00.log.gz", gzip.compress(cloudfront(500, 4)))
        finally:
            for key in azure_env:
                os.environ.pop(key, None)
        second = run_cli(
            *piwik_args(fake), "az://logs/fd/2026/11/*/*.gz", cwd=tmp_path, env={**SECRET_ENV, **azure_env}
        )
        assert second.returncode == 0, second.stderr
        assert "6 of its 7 objects were imported before" in second.stderr
        missing = run_cli(*piwik_args(fake), "az://nothere/x/*.gz", cwd=tmp_path, env={**SECRET_ENV, **azure_env})
    seen = pages(fake)
    assert sorted(seen) == sorted([h * 10 + i for h in range(6) for i in range(4)] + [500, 501, 502, 503])
    assert max(seen.values()) == 1
    assert missing.returncode == 3 and "the container nothere does not exist" in missing.stderr


def test_in_process_a_bucket_twice(
    s3: str, bucket: tuple[Any, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The planner's side of objects in this process: listing by glob, fetching ahead, the state on a re-run."""
    import json

    from import_logs.config import BackendOptions

    c, name = bucket
    for hour in range(30):
        c.put_object(Bucket=name, Key=f"cf/{hour:02d}.gz", Body=gzip.compress(cloudfront(hour * 10, 5)))
    c.put_object(Bucket=name, Key="cf/plain.log", Body=cloudfront(900, 5))  # not compressed: read as it is
    c.put_object(Bucket=name, Key="cf/empty.gz", Body=gzip.compress(b""))
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3)
    out = tmp_path / "out.jsonl"

    def run(*inputs: str, **changes: Any) -> Any:
        config = Config(
            inputs=inputs,
            workers=1,
            backend=BackendOptions(idsite="app", payload_size=3),
            save_requests=str(out),
            state=StateOptions(path=str(tmp_path / "state.json")),
            **changes,
        )
        return Importer(config).run()

    first = run(f"s3://{name}/cf/*")
    assert first.sent == 155
    assert run(f"s3://{name}/cf/*").lines == 0  # every object done: none fetched
    c.put_object(Bucket=name, Key="cf/30.gz", Body=gzip.compress(cloudfront(300, 5)))
    third = run(f"s3://{name}/cf/[0-9]*.gz")
    assert third.sent == 5
    seen = Counter(int(json.loads(line)["url"].rsplit("/", 1)[1]) for line in out.read_text().splitlines())
    assert sorted(seen) == sorted([h * 10 + i for h in range(31) for i in range(5)] + list(range(900, 905)))
    assert max(seen.values()) == 1


@pytest.mark.parametrize(
    ("scheme", "text", "said", "fix"),
    [
        ("s3", "<Code>NoSuchBucket</Code>", "the bucket b does not exist at http://127.0.0.1:9", "--s3-endpoint-url"),
        ("az", "<Code>ContainerNotFound</Code>", "the container b does not exist", "Check the bucket's name."),
        ("s3", "<Code>InvalidAccessKeyId</Code>", "the credentials were refused by s3://b", "AWS_PROFILE"),
        ("s3", "<Code>SignatureDoesNotMatch</Code>", "(SignatureDoesNotMatch)", "AWS_SECRET_ACCESS_KEY"),
        ("az", "<Code>AuthenticationFailed</Code>", "refused by az://b", "AZURE_STORAGE_ACCOUNT_KEY"),
        ("s3", "<Code>AccessDenied</Code>", "may not read the bucket b", "s3:ListBucket, s3:GetObject"),
        ("s3", "<Code>NoSuchKey</Code>", "no such object", "Run the import again."),
        ("s3", "<Code>PreconditionFailed</Code>", "was replaced while it was read", "reads the new one"),
        ("s3", "error sending request: Connection refused (os error 111)", "cannot be read from s3://b", "reachable"),
        ("s3", "Error performing PUT http://169.254.169.254/latest/api/token", "no credentials found", "AWS_PROFILE"),
    ],
)
def test_store_errors_name_the_bucket_and_the_fix(
    scheme: str, text: str, said: str, fix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from import_logs.sources.objects import Bucket

    monkeypatch.setenv("AZURE_STORAGE_USE_EMULATOR", "true")
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    b = Bucket(scheme, "b", endpoint="http://127.0.0.1:9")
    error = b.failure(RuntimeError(text), f"{scheme}://b/x.gz")
    assert said in str(error) and fix in str(error), str(error)


def test_an_azure_container_without_an_account_says_which_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from import_logs.errors import InputError
    from import_logs.sources.objects import Bucket

    for key in list(os.environ):
        if key.startswith("AZURE") or key.startswith("AZURITE"):
            monkeypatch.delenv(key)
    with pytest.raises(InputError, match="AZURE_STORAGE_ACCOUNT_NAME"):
        Bucket("az", "logs")


def test_transient_faults_are_retried_and_others_are_not() -> None:
    from import_logs.sources.objects import _transient

    assert _transient(RuntimeError("error sending request: connection reset by peer"))
    assert _transient(RuntimeError("operation timed out"))
    assert not _transient(RuntimeError("<Code>NoSuchKey</Code> connection"))
    assert not _transient(RuntimeError("404 Not Found"))


def test_in_process_a_missing_bucket_stops_before_anything_is_sent(
    s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from import_logs.errors import InputError

    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    config = Config(
        inputs=("s3://missing-bucket/a/*.gz",), workers=1, save_requests=str(tmp_path / "o"), s3_endpoint=s3
    )
    with pytest.raises(InputError, match="the bucket missing-bucket does not exist"):
        Importer(config).run()


def test_an_object_started_after_the_last_snapshot_is_in_the_journal(tmp_path: Path) -> None:
    """A bucket's objects are journaled, not snapshotted, as they start: a crash (no snapshot since) still finds
    each object's entry and the lines the server accepted, so a re-run sends none of them again."""
    from import_logs.checkpoint.ledger import Ledger
    from import_logs.checkpoint.state import StateFile
    from import_logs.sources.objects import ObjectRef

    path = str(tmp_path / "state.json")
    ref = ObjectRef("s3://b/cf/a.gz", "cf/a.gz", 100, "etag1", None)
    state = StateFile(path, "dest")
    with state:
        ledger = Ledger(state, in_flight_bound=10)
        ledger.save(clean=False)
        entry = state.add_object(ref.identity, ref.url)
        ledger.track(0, entry)
        ledger.add_block(0, 0, 500, 0, 5, [1, 2, 3, 4, 5], [])
        ledger.accept([(0, 1), (0, 2), (0, 4)])
        state._journal_fd and os.fsync(state._journal_fd)
        # a kill -9 here: no snapshot after the object started
        ledger.close()
        os.close(state._journal_fd)  # type: ignore[arg-type]
        state._journal_fd = None
        state._unlock()
    again = StateFile(path, "dest")
    with again:
        found = again.object_entry(ref.identity)
        assert found is not None and found.acked == [1, 2, 4] and not found.done  # skipped when read again


def test_a_truncated_object_is_read_as_far_as_it_decodes_and_its_whole_version_reads_on(
    s3: str, bucket: tuple[Any, str], tmp_path: Path
) -> None:
    """A gzipped object cut short (uploaded before it was whole) gives every line that decodes, as the same bytes
    in a file do; the whole object uploaded later under the same key sends only the rest. Another content under
    the same key is read from its start, and the import says so."""
    import zlib

    c, name = bucket
    whole = gzip.compress(cloudfront(0, 6000))
    cut = whole[: len(whole) // 3]
    decodable = zlib.decompressobj(31).decompress(cut).count(b"\n") - 2  # the two W3C header lines
    (tmp_path / "cut.gz").write_bytes(cut)
    c.put_object(Bucket=name, Key="cf/a.gz", Body=cut)
    url = f"s3://{name}/cf/a.gz"
    with FakePiwikPro() as fake:
        local = run_cli("--dry-run", "--no-progress", "--summary-json=-", str(tmp_path / "cut.gz"), cwd=tmp_path)
        assert f'"hits_kept": {decodable},' in local.stdout, local.stdout
        first = run_cli(*piwik_args(fake), url, cwd=tmp_path, env=env(s3))
        assert first.returncode == 3, first.stderr
        assert f"{url}: ends early" in first.stderr
        assert "logrotate" not in first.stderr and "once a whole object replaces it" in first.stderr
        assert sorted(pages(fake)) == list(range(decodable))
        c.put_object(Bucket=name, Key="cf/a.gz", Body=whole)
        second = run_cli(*piwik_args(fake), url, cwd=tmp_path, env=env(s3))
        assert second.returncode == 0, second.stderr
        assert "a new version of an object read in part before" in second.stderr
        assert sorted(pages(fake)) == list(range(6000)) and max(pages(fake).values()) == 1

        c.put_object(Bucket=name, Key="cf/b.gz", Body=cut)
        other = run_cli(*piwik_args(fake), f"s3://{name}/cf/b.gz", cwd=tmp_path, env=env(s3))
        assert other.returncode == 3
        c.put_object(Bucket=name, Key="cf/b.gz", Body=gzip.compress(cloudfront(7000, 10)))
        replaced = run_cli(*piwik_args(fake), f"s3://{name}/cf/b.gz", cwd=tmp_path, env=env(s3))
        assert replaced.returncode == 0, replaced.stderr
        assert "replaced by a new version that does not start with the" in replaced.stderr
        assert set(range(7000, 7010)) <= set(pages(fake))


def test_no_credentials_are_named_and_the_instance_metadata_address_is_not_asked(s3: str, tmp_path: Path) -> None:
    """With an endpoint of its own (MinIO, R2, ...) and no credentials: "no credentials found" and what to set,
    before any request; the instance-metadata address (here a listener of this test) is never asked."""
    import contextlib
    import socket
    import threading

    metadata = socket.create_server(("127.0.0.1", 0))
    asked: list[object] = []

    def answer() -> None:  # each connection closed at once: a client that asks fails fast
        with contextlib.suppress(OSError):
            while True:
                connection, _ = metadata.accept()
                asked.append(connection)
                connection.close()

    threading.Thread(target=answer, daemon=True).start()
    address = f"http://127.0.0.1:{metadata.getsockname()[1]}"
    bare = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    none = str(tmp_path / "no-such-file")
    bare |= {"HOME": str(tmp_path), "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none}
    bare |= {"AWS_METADATA_ENDPOINT": address, "AWS_EC2_METADATA_SERVICE_ENDPOINT": address}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "import_logs", "--dry-run", "--s3-endpoint-url", s3, "s3://logs/cf/*.gz"],
            env=bare,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        metadata.close()
    assert result.returncode == 3, result.stderr
    assert "s3://logs: no credentials found" in result.stderr
    assert "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in result.stderr and "reachable" not in result.stderr
    assert not asked


def test_with_instance_metadata_disabled_no_credentials_is_said_before_any_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from import_logs.errors import InputError
    from import_logs.sources.objects import Bucket

    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(InputError, match=r"no credentials found .*AWS_EC2_METADATA_DISABLED is set.*AWS_PROFILE"):
        Bucket("s3", "logs")
    monkeypatch.setenv("AWS_SKIP_SIGNATURE", "true")  # a public bucket: nothing to sign with
    Bucket("s3", "logs")


@pytest.mark.parametrize("edges", [3, 12])
def test_the_objects_of_several_edge_servers_are_merged_in_time_order(
    s3: str, bucket: tuple[Any, str], tmp_path: Path, edges: int
) -> None:
    """CloudFront writes a file per edge server for the same hour: a visitor's hits of one hour are spread over
    them. They reach the tracker in time order (#23), also when there are more of them than objects are usually
    read side by side (their keys say they are of the same hour)."""
    c, name = bucket
    rows: list[list[str]] = [[] for _ in range(edges)]
    for n in range(300):
        minute, visitor = n // 5, n % 7
        row = (
            f"2026-11-29\t10:{minute:02d}:{n % 60:02d}\tFRA56-P{n % 3}\t5120\t203.0.113.{visitor}\tGET\t"
            f"d1.cloudfront.net\t/p/{n}\t200\t-\tMozilla/5.0%2520(X11)\t-\t-\tHit\tid{n}==\twww.example.com\t"
            "https\t301\t0.040\n"
        )
        rows[(n * 7919) % edges].append(row)
    for edge, lines in enumerate(rows):
        body = gzip.compress((HEADER + "".join(lines)).encode())
        c.put_object(Bucket=name, Key=f"cloudfront/E2ABC.2026-11-29-10.edge{edge}.gz", Body=body)
    with FakePiwikPro() as fake:
        # One worker: the blocks are read as the merge takes them, so no object opens early by chance.
        result = run_cli(
            *piwik_args(fake, "--recorders=2", "--workers=1"), f"s3://{name}/cloudfront/*.gz", cwd=tmp_path, env=env(s3)
        )
        assert result.returncode == 0, result.stderr
    assert sorted(pages(fake)) == list(range(300))
    last: dict[str, str] = {}
    for hit in fake.hits:
        assert hit["cdt"] >= last.get(hit["cip"], ""), (hit, result.stdout)
        last[hit["cip"]] = hit["cdt"]
    assert "out of time order" not in result.stdout, result.stdout


def test_a_folder_named_without_its_slash_is_listed(s3: str, bucket: tuple[Any, str], tmp_path: Path) -> None:
    """``s3://bucket/cloudfront`` names no object: the HEAD that looks for one finds nothing (obstore says so with a
    FileNotFoundError), and the folder is listed."""
    c, name = bucket
    put_logs(c, name, range(1, 2))
    with FakePiwikPro() as fake:
        result = run_cli(*piwik_args(fake), f"s3://{name}/cloudfront", cwd=tmp_path, env=env(s3))
        assert result.returncode == 0, result.stderr
    assert sorted(pages(fake)) == expected(range(1, 2))


def test_an_object_of_no_known_format_is_named_and_the_others_imported(
    s3: str, bucket: tuple[Any, str], tmp_path: Path
) -> None:
    """One stray object among a bucket's logs must not stop every cron run at it: it is named (exit 3), the
    others are imported, and the next run imports nothing twice."""
    c, name = bucket
    put_logs(c, name, range(1, 2))
    c.put_object(Bucket=name, Key="cloudfront/E2ABC.2026-11-01-05.zz.gz", Body=gzip.compress(b"hello\nworld\n" * 5))
    with FakePiwikPro() as fake:
        first = run_cli(*piwik_args(fake), f"s3://{name}/cloudfront/*.gz", cwd=tmp_path, env=env(s3))
        assert first.returncode == 3, first.stderr
        assert f"s3://{name}/cloudfront/E2ABC.2026-11-01-05.zz.gz: of no known log format" in first.stdout
        assert sorted(pages(fake)) == expected(range(1, 2))
        again = run_cli(*piwik_args(fake), f"s3://{name}/cloudfront/*.gz", cwd=tmp_path, env=env(s3))
        assert again.returncode == 3, again.stderr  # still named, nothing sent twice
        assert sorted(pages(fake)) == expected(range(1, 2))
