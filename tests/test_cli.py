"""The command line through click's CliRunner: exact messages and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import SAMPLES

from import_logs import __version__
from import_logs.cli import exit_code_for, main
from import_logs.errors import (
    AuthError,
    ConfigError,
    ExitCode,
    FormatError,
    InputError,
    RejectedError,
    ServerError,
    WorkerError,
)

LOG = str(SAMPLES / "common_complete.log")


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["--workers=1", *args], env=env, catch_exceptions=False)


def test_version_and_help() -> None:
    assert invoke("--version").stdout == f"import-logs, version {__version__}\n"
    help_text = invoke("--help").stdout
    assert "Examples:" in help_text and "--client-secret" in help_text and "IMPORT_LOGS_CLIENT_SECRET" in help_text


def test_every_option_is_declared_once_in_one_help_section() -> None:
    from import_logs.cli.options import SECTIONS

    declared = [opt.name for section in SECTIONS for opt in section.options]
    assert len(declared) == len(set(declared))
    params = [param.name for param in main.params]
    assert sorted(params) == sorted([*declared, "files", "version"])  # --help is added by click
    help_text = invoke("--help").stdout
    titles = [line[:-1] for line in help_text.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert titles == [*(section.title for section in SECTIONS), "General"]
    general = help_text.split("\nGeneral:\n")[1]
    assert "--version" in general and "--help" in general and "--settings" not in general


def test_list_formats() -> None:
    lines = invoke("--list-formats").stdout.splitlines()
    names = [line.split()[0] for line in lines]
    assert names[:4] == ["common", "common_vhost", "ncsa_extended", "common_complete"]
    assert {"s3", "icecast2", "elb", "nginx_json", "traefik_json", "caddy_json", "ovh", "haproxy", "gandi"} <= set(
        names
    )


def test_no_file_is_a_usage_error() -> None:
    result = invoke()
    assert result.exit_code == ExitCode.USAGE
    assert "no log file given. Name the files (or - for standard input); see --help." in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [],
            "import-logs: error: --url is required: the address of your Piwik PRO account, e.g. "
            "https://example.piwik.pro.\n",
        ),
        (
            ["--url=https://x.piwik.pro"],
            "import-logs: error: --client-id and --client-secret are required: create "
            "API credentials in Piwik PRO (My profile → API credentials); the secret can also come from "
            "IMPORT_LOGS_CLIENT_SECRET.\n",
        ),
        (
            ["--backend=matomo", "--url=https://matomo.example.com"],
            "import-logs: error: Matomo needs a token. On the Matomo server, give --config with Matomo's "
            "config/config.ini.php (or its directory): the token is then made by Matomo's "
            "misc/cron/updatetoken.php, as Matomo's own importer does (--php-binary names the PHP). Elsewhere give "
            "--token-auth (better in IMPORT_LOGS_TOKEN_AUTH), created under Administration → Personal → Security → "
            "Auth tokens by a user with write access to the sites; or --login and --password (IMPORT_LOGS_PASSWORD) "
            "to create one for this run.\n",
        ),
        (
            ["--token-auth=t", "--url=https://matomo.example.com", "--idsite=app-uuid"],
            "import-logs: error: --idsite 'app-uuid': Matomo site ids are numbers (Administration → Websites).\n",
        ),
        (
            ["--backend=pirsch"],
            "import-logs: error: Pirsch needs --client-secret: an access key (pa_...), or a client secret with "
            "--client-id. Create one under the domain's settings → Developer; better give it in "
            "IMPORT_LOGS_CLIENT_SECRET.\n",
        ),
    ],
)
def test_missing_destination_options(args: list[str], message: str) -> None:
    result = invoke(*args, LOG)
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.endswith(message)


def test_missing_file() -> None:
    result = invoke("--dry-run", "/nonexistent/access.log")
    assert result.exit_code == ExitCode.INPUT
    assert result.stderr == (
        "import-logs: error: /nonexistent/access.log: no such file. Check the path and its permissions.\n"
    )
    assert result.stdout == ""


def test_following_a_bucket_without_its_queue_is_refused() -> None:
    result = invoke("--dry-run", "--follow", "s3://my-logs/cloudfront/*.gz")
    assert result.exit_code == ExitCode.USAGE
    assert "objects of a store do not" in result.stderr and "--queue URL" in result.stderr


def test_unknown_format() -> None:
    result = invoke("--dry-run", "--log-format-name=apache", LOG)
    assert result.exit_code == ExitCode.INPUT
    assert result.stderr.startswith("import-logs: error: unknown log format 'apache'. Known formats: common, ")


def test_undetectable_log(tmp_path: Path) -> None:
    log = tmp_path / "odd.log"
    log.write_text("hello\n")
    result = invoke("--dry-run", str(log))
    assert result.exit_code == ExitCode.INPUT
    assert "odd.log: no known format matches the first lines (tried: common, " in result.stderr


def test_bad_regex() -> None:
    result = invoke("--dry-run", "--log-format-regex=(?P<path>", LOG)
    assert result.exit_code == ExitCode.INPUT
    assert "--log-format-regex: the regex does not compile" in result.stderr


def test_save_requests_to_stdout_keeps_the_summary_on_stderr() -> None:
    result = invoke("--save-requests=-", "--idsite=app", LOG)
    assert result.exit_code == ExitCode.OK
    requests = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(requests) == 9 and requests[0]["url"] == "https://www.example.com/"
    assert "9 requests written to standard output (--save-requests: nothing sent)" in result.stderr


def test_dry_run_summary() -> None:
    result = invoke("--dry-run", LOG)
    assert result.exit_code == ExitCode.OK
    assert "9 requests kept by the filters (dry run: nothing was sent)" in result.stdout
    assert "imported" not in result.stdout and "Requests kept per second" in result.stdout
    assert "1 invalid log lines: lines that match no part of the log format" in result.stdout


def test_summary_json(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    result = invoke("--dry-run", f"--summary-json={target}", LOG)
    assert result.exit_code == ExitCode.OK
    figures = json.loads(target.read_text())
    assert figures["lines_parsed"] == 20 and figures["hits_kept"] == 9
    assert figures["skipped"]["static"] == 4 and figures["invalid"]["no_match"] == 1
    assert figures["skipped_total"] + figures["invalid_total"] + figures["hits_kept"] == 20
    said = invoke("--dry-run", "--summary-json=-", LOG)
    only = json.loads(said.stdout)  # the only thing on stdout; the text summary goes to stderr
    assert only["lines_parsed"] == 20 and only["exit_code"] == 0 and only["error"] is None
    assert "Logs import summary" in said.stderr


def test_verbose_lists_invalid_and_skipped_lines_with_file_and_line() -> None:
    result = invoke("--dry-run", "-v", LOG)
    assert f"{LOG}:18: invalid: no_match: this line was written by a broken logger" in result.stderr
    assert f"{LOG}:2: skipped: static: www.example.com 203.0.113.7" in result.stderr
    assert f"Parsing log {LOG} (format common_complete)..." in result.stderr


def test_output_file_receives_everything(tmp_path: Path) -> None:
    target = tmp_path / "import.log"
    result = invoke("--dry-run", "-v", f"--output={target}", LOG)
    assert result.exit_code == ExitCode.OK
    assert result.stdout == result.stderr == ""
    text = target.read_text()
    assert "Logs import summary" in text and ":18: invalid: no_match" in text


def test_unbounded_retries_are_bounded() -> None:
    result = invoke("--dry-run", "--retry-max-attempts=0", LOG)
    assert "--retry-max-attempts 0 would retry forever; using 100 attempts." in result.stderr


def test_option_validation() -> None:
    assert invoke("--workers=0", LOG).exit_code == ExitCode.USAGE
    result = invoke("--dry-run", "--exclude-path-from=/nonexistent", LOG)
    assert result.exit_code == ExitCode.USAGE and "'/nonexistent' does not exist" in result.stderr


def test_compatibility_flags_are_accepted() -> None:
    result = invoke("--dry-run", "--enable-bulk-tracking", LOG)
    assert result.exit_code == ExitCode.OK


def test_filters_from_the_command_line(tmp_path: Path) -> None:
    patterns = tmp_path / "exclude.txt"
    patterns.write_text("/blog/*\n\n  /products/*  \n")
    result = invoke(
        "--save-requests=-",
        "--idsite=app",
        f"--exclude-path-from={patterns}",
        "--hostname=www.*",
        "--download-extensions=pdf",
        "--strip-query-string",
        LOG,
    )
    urls = [json.loads(line)["url"] for line in result.stdout.splitlines()]
    assert urls == [
        "https://www.example.com/",
        "https://www.example.com/downloads/catalogue-2024.pdf",
        "https://www.example.com/new-page",
    ]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("x"), ExitCode.USAGE),
        (InputError("p", "r"), ExitCode.INPUT),
        (FormatError("x"), ExitCode.INPUT),
        (AuthError("x", url="u"), ExitCode.AUTH),
        (ServerError("x", url="u"), ExitCode.SERVER),
        (RejectedError("x", url="u", status=400, excerpt=""), ExitCode.SERVER),
        (WorkerError("x"), ExitCode.FAILURE),
    ],
)
def test_exit_codes(error: Exception, code: ExitCode) -> None:
    assert exit_code_for(error) == code  # type: ignore[arg-type]


def test_unwritable_outputs(tmp_path: Path) -> None:
    result = invoke(f"--save-requests={tmp_path}/no/such/dir/out.jsonl", LOG)
    assert result.exit_code == ExitCode.USAGE
    assert "cannot write there (No such file or directory). Choose another path." in result.stderr
    result = invoke("--dry-run", f"--summary-json={tmp_path}/no/such/dir/s.json", LOG)
    assert result.exit_code == ExitCode.OK
    assert "--summary-json" in result.stderr and "No such file or directory" in result.stderr


def test_format_file_that_is_not_an_object(tmp_path: Path) -> None:
    definition = tmp_path / "list.json"
    definition.write_text("[1, 2]")
    result = invoke("--dry-run", f"--log-format-name={definition}", LOG)
    assert result.exit_code == ExitCode.INPUT
    assert "a format file holds one JSON object." in result.stderr


def test_internal_errors_are_one_line_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("import_logs.pipeline.Importer.run", broken)
    result = invoke("--dry-run", LOG)
    assert result.exit_code == ExitCode.FAILURE
    assert (
        result.stderr
        == "import-logs: internal error: RuntimeError('boom'). Run again with --traceback and report it.\n"
    )
    assert "Traceback (most recent call last)" in invoke("--dry-run", "--traceback", LOG).stderr


def test_permission_denied_names_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("import_logs.sources.files.compression_of", denied)
    result = invoke("--dry-run", LOG)
    assert result.exit_code == ExitCode.INPUT
    assert result.stderr == f"import-logs: error: {LOG}: permission denied. Check the path and its permissions.\n"


def test_dump_log_regex() -> None:
    out = invoke("--dump-log-regex", LOG).stdout.splitlines()
    assert out[0] == f"{LOG}: common_complete"
    assert out[1].startswith("^(?:(?P<host>")
    json_out = invoke("--dump-log-regex", str(SAMPLES / "caddy_json.log")).stdout
    assert "caddy_json (JSON)" in json_out and "user_agent <- (('request', 'headers', 'User-Agent', 0),)" in json_out


def test_timezone_option() -> None:
    haproxy = str(SAMPLES / "haproxy.log")
    utc = [json.loads(line)["cdt"] for line in invoke("--save-requests=-", "--idsite=a", haproxy).stdout.splitlines()]
    paris = invoke("--save-requests=-", "--idsite=a", "--timezone=Europe/Paris", haproxy).stdout.splitlines()
    assert utc[0] == "2024-02-10 21:42:07"  # whole seconds (#28): the log says 21:42:07.037
    assert json.loads(paris[0])["cdt"] == "2024-02-10 20:42:07"
    wrong = invoke("--dry-run", "--timezone=Nowhere/Land", LOG)
    assert wrong.exit_code == ExitCode.USAGE
    assert "--timezone Nowhere/Land: not a time zone." in wrong.stderr


def test_reference_date_host_and_path_options() -> None:
    def urls(*args: str) -> list[tuple[str, str]]:
        out = invoke("--save-requests=-", "--idsite=a", *args, LOG).stdout.splitlines()
        return [(json.loads(line)["url"], json.loads(line)["cdt"]) for line in out]

    everything = urls()
    assert urls("--include-host=shop.example.com") == [u for u in everything if "//shop." in u[0]]
    assert urls("--exclude-host=shop.example.com") == [u for u in everything if "//shop." not in u[0]]
    assert urls("--exclude-older-than=2024-02-10 16:47:00 -0500") == [
        u for u in everything if u[1] >= "2024-02-10 21:47"
    ]
    assert urls("--exclude-newer-than=2024-02-10 21:45:00") == [u for u in everything if u[1] <= "2024-02-10 21:45"]
    shifted = urls("--add-to-date=-3600")
    assert shifted[0][1] == "2024-02-10 20:42:07"
    lowered = [url for url, _ in urls("--force-lowercase-path")]
    assert "https://shop.example.com/item/%C3%A9t%C3%A9-2024" in [url for url, _ in everything]
    assert "https://shop.example.com/item/%c3%a9t%c3%a9-2024" in lowered
    wrong = invoke("--dry-run", "--exclude-older-than=yesterday", LOG)
    assert wrong.exit_code == ExitCode.USAGE
    assert "--exclude-older-than 'yesterday': give \"YYYY-MM-DD hh:mm:ss +hhmm\"" in wrong.stderr


def test_a_binary_file_is_shown_with_its_bytes_escaped_once(tmp_path: Path) -> None:
    """#22 item 16: a byte that is not text was shown as '\\\\xd0' (escaped when read, then again by repr)."""
    binary = tmp_path / "core.log"
    binary.write_bytes(b"\x7fELF\x02\x01\xd0a\tz\x00\x00\n")
    detected = invoke("--dry-run", str(binary))
    assert detected.exit_code == ExitCode.INPUT
    assert "First line: '\\x7fELF\\x02\\x01\\xd0a\\tz\\x00\\x00'. Name the format" in detected.stderr
    forced = invoke("--dry-run", "--log-format-name=common", str(binary))
    assert forced.exit_code == ExitCode.INPUT
    assert "First line: '\\x7fELF\\x02\\x01\\xd0a\\tz\\x00\\x00'. Leave --log-format-name out" in forced.stderr
