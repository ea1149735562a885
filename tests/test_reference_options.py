"""Every option of both reference importers (reference §2) goes through the parser and lands where it means the
same; value options in both the ``--opt=value`` and the ``--opt value`` forms."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import SAMPLES

from import_logs.cli import main
from import_logs.cli.settings import build_config
from import_logs.config import Config, Secret

LOG = str(SAMPLES / "common_complete.log")
DATA = Path(__file__).parent / "data"
#: A patterns file for --exclude-path-from and --include-path-from (read only: no test writes into the tree).
PATTERNS = DATA / "patterns.txt"


def parse(*args: str) -> tuple[dict[str, Any], Config]:
    ctx = main.make_context("import-logs", [*args, LOG])
    return ctx.params, build_config(ctx.params)


Check = Callable[[dict[str, Any], Config], bool]

#: (option, value or None for a flag, where it lands). Every option of reference §2, Matomo's and Piwik PRO's.
REFERENCE: list[tuple[str, str | None, Check]] = [
    # 2.1 input and formats
    ("--log-format-name", "common_vhost", lambda o, c: c.formats.name == "common_vhost"),
    ("--log-format-regex", r"(?P<ip>\S+) (?P<path>\S+)", lambda o, c: c.formats.regex == r"(?P<ip>\S+) (?P<path>\S+)"),
    ("--log-date-format", "%Y-%m-%d", lambda o, c: c.formats.date_format == "%Y-%m-%d"),
    ("--log-hostname", "www.example.com", lambda o, c: c.tracking.log_hostname == "www.example.com"),
    ("--encoding", "latin-1", lambda o, c: c.formats.encoding == "latin-1"),
    ("--w3c-map-field", "date-local=date", lambda o, c: c.formats.w3c.map_fields == (("date-local", "date"),)),
    ("--w3c-time-taken-millisecs", None, lambda o, c: c.formats.w3c.time_taken_millis),
    ("--w3c-fields", "#Fields: date time c-ip", lambda o, c: c.formats.w3c.fields == "#Fields: date time c-ip"),
    (
        "--w3c-field-regex",
        "sc-win32-status=(?P<win32>\\S+)",
        lambda o, c: c.formats.w3c.field_regexes == (("sc-win32-status", "(?P<win32>\\S+)"),),
    ),
    ("--dump-log-regex", None, lambda o, c: o["dump_log_regex"]),
    ("--ignore-groups", "userid,referrer", lambda o, c: c.tracking.ignore_groups == ("userid", "referrer")),
    ("--query-string-delimiter", ";", lambda o, c: c.tracking.query_string_delimiter == ";"),
    ("--strip-query-string", None, lambda o, c: c.tracking.strip_query_string),
    ("--force-lowercase-path", None, lambda o, c: c.tracking.lowercase_path),
    ("--skip", "10", lambda o, c: c.state.skip == 10),
    ("--debug-request-limit", "5", lambda o, c: c.request_limit == 5 and c.state.directory is not None),
    # 2.2 filters
    ("--hostname", "*.example.com", lambda o, c: c.filters.hostnames == ("*.example.com",)),
    ("--exclude-path", "/admin/*", lambda o, c: c.filters.exclude_paths == ("/admin/*",)),
    ("--exclude-path-from", str(PATTERNS), lambda o, c: c.filters.exclude_paths == ("/private/*", "*.bak")),
    ("--include-path", "/blog/*", lambda o, c: c.filters.include_paths == ("/blog/*",)),
    ("--include-path-from", str(PATTERNS), lambda o, c: c.filters.include_paths == ("/private/*", "*.bak")),
    ("--useragent-exclude", "Zabbix", lambda o, c: c.filters.useragent_exclude == ("Zabbix",)),
    ("--enable-static", None, lambda o, c: c.filters.enable_static),
    ("--enable-bots", None, lambda o, c: c.filters.enable_bots),
    ("--enable-http-errors", None, lambda o, c: c.filters.enable_http_errors),
    ("--enable-http-redirects", None, lambda o, c: c.filters.enable_http_redirects),
    ("--download-extensions", "pdf,ZIP", lambda o, c: c.filters.download_extensions == frozenset({"pdf", "zip"})),
    ("--add-download-extensions", "md5,sig", lambda o, c: {"md5", "sig", "pdf"} <= c.filters.download_extensions),
    ("--include-host", "www.example.com", lambda o, c: c.filters.include_hosts == ("www.example.com",)),
    ("--exclude-host", "shop.example.com", lambda o, c: c.filters.exclude_hosts == ("shop.example.com",)),
    # 2.3 dates
    (
        "--exclude-older-than",
        "2024-02-10 16:43:00 -0500",
        lambda o, c: c.filters.older_than == datetime(2024, 2, 10, 21, 43, tzinfo=timezone.utc),
    ),
    (
        "--exclude-newer-than",
        "2024-02-10 21:43:00 +0000",
        lambda o, c: c.filters.newer_than == datetime(2024, 2, 10, 21, 43, tzinfo=timezone.utc),
    ),
    ("--add-to-date", "-3600", lambda o, c: c.tracking.add_to_date == -3600),
    # 2.4 sites
    ("--idsite", "3", lambda o, c: c.backend.idsite == "3"),
    ("--idsite-fallback", "1", lambda o, c: c.backend.idsite_fallback == "1"),
    ("--add-sites-new-hosts", None, lambda o, c: c.backend.add_sites_new_hosts),
    # 2.5 auth
    ("--token-auth", "tok", lambda o, c: c.backend.token_auth == Secret("tok") and c.backend.name == "matomo"),
    ("--login", "admin", lambda o, c: c.backend.login == "admin" and c.backend.name == "matomo"),
    ("--password", "pw", lambda o, c: c.backend.password == Secret("pw")),
    (
        "--config",
        "/var/www/matomo/config/config.ini.php",
        lambda o, c: c.backend.matomo_config == "/var/www/matomo/config/config.ini.php" and c.backend.name == "matomo",
    ),
    ("--php-binary", "/usr/bin/php8", lambda o, c: c.backend.php_binary == "/usr/bin/php8"),
    ("--enable-testmode", None, lambda o, c: c.backend.php_testmode),
    ("--client-id", "cid", lambda o, c: c.backend.client_id == "cid" and c.backend.name == "piwikpro"),
    ("--client-secret", "cs", lambda o, c: c.backend.client_secret == Secret("cs")),
    ("--auth-user", "proxy", lambda o, c: c.http.basic_user == "proxy"),
    ("--auth-password", "pp", lambda o, c: c.http.basic_password == Secret("pp")),
    # 2.6 recorder / HTTP
    ("--url", "https://matomo.example.com", lambda o, c: c.backend.url == "https://matomo.example.com"),
    ("--api-url", "https://api.example.com", lambda o, c: c.backend.api_url == "https://api.example.com"),
    ("--tracker-endpoint-path", "/piwik.php", lambda o, c: c.backend.tracker_endpoint_path == "/piwik.php"),
    ("--recorders", "4", lambda o, c: c.backend.recorders == 4),
    ("--recorder-max-payload-size", "50", lambda o, c: c.backend.payload_size == 50),
    ("--disable-bulk-tracking", None, lambda o, c: c.backend.payload_size == 1),
    ("--enable-bulk-tracking", None, lambda o, c: c.backend.payload_size is None),
    (
        "--debug-force-one-hit-every-Ns",
        "0.5",
        lambda o, c: c.backend.payload_size == 1 and c.http.sleep_between == 0.5,
    ),
    ("--sleep-between-requests-ms", "250", lambda o, c: c.http.sleep_between == 0.25),
    ("--retry-max-attempts", "5", lambda o, c: c.http.max_attempts == 5),
    ("--retry-delay", "2", lambda o, c: c.http.retry_delay == 2.0),
    ("--request-timeout", "30", lambda o, c: c.http.timeout == 30.0),
    ("--request-suffix", "foo=bar", lambda o, c: c.http.request_suffix == "foo=bar"),
    ("--accept-invalid-ssl-certificate", None, lambda o, c: not c.http.verify_tls),
    ("--dry-run", None, lambda o, c: c.dry_run),
    ("--enable-reverse-dns", None, lambda o, c: c.tracking.enable_reverse_dns),
    ("--title-category-delimiter", "::", lambda o, c: c.tracking.title_category_delimiter == "::"),
    ("--debug-tracker", None, lambda o, c: c.http.debug_tracker),
    # 2.7 output
    ("--debug", None, lambda o, c: c.verbose == 1),
    ("-d", None, lambda o, c: c.verbose == 1),
    ("--show-progress", None, lambda o, c: o["show_progress"] is True),
    ("--show-progress-delay", "5", lambda o, c: o["show_progress_delay"] == 5.0),
    ("--output", "/tmp/import.log", lambda o, c: o["output"] == "/tmp/import.log"),
    # 2.8 replay
    ("--replay-tracking", None, lambda o, c: c.backend.replay_tracking),
    (
        "--replay-tracking-expected-tracker-file",
        "tracker.php",
        lambda o, c: c.backend.replay_suffixes == ("tracker.php",),
    ),
    # 2.9 custom variables
    (
        "--regex-group-to-visit-cvar",
        "userid=User Name",
        lambda o, c: c.tracking.visit_cvars == (("userid", "User Name"),),
    ),
    (
        "--regex-group-to-page-cvar",
        "generation_time_milli=Generation,host=Host",
        lambda o, c: c.tracking.page_cvars == (("generation_time_milli", "Generation"), ("host", "Host")),
    ),
    ("--track-http-method", "True", lambda o, c: c.tracking.track_http_method),
]


def test_the_list_holds_every_reference_option() -> None:
    """tests/data/reference_options.txt: every option of the reference importers, kept in the repository so
    that a fresh clone runs this test (it has no copy of the reference's documentation)."""
    lines = (DATA / "reference_options.txt").read_text().splitlines()
    documented = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert len(documented) > 60
    assert documented <= {option for option, _, _ in REFERENCE}, documented - {o for o, _, _ in REFERENCE}


@pytest.mark.parametrize(("option", "value", "check"), REFERENCE, ids=[o for o, _, _ in REFERENCE])
def test_each_reference_option_lands_where_it_means_the_same(option: str, value: str | None, check: Check) -> None:
    forms = [[option]] if value is None else [[f"{option}={value}"], [option, value]]
    if option == "-d":
        forms = [["-d"]]
    for form in forms:
        options, config = parse(*form)
        assert check(options, config), form


def test_a_key_value_list_keeps_equals_and_commas_in_values() -> None:
    _, config = parse("--regex-group-to-page-cvar=userid=a=b,c,referrer=From")
    assert config.tracking.page_cvars == (("userid", "a=b,c"), ("referrer", "From"))


@pytest.mark.parametrize(("value", "on"), [(None, True), ("1", True), ("yes", True), ("0", False), ("false", False)])
def test_track_http_method_is_a_flag_that_may_take_a_value(value: str | None, on: bool) -> None:
    _, config = parse("--track-http-method" if value is None else f"--track-http-method={value}")
    assert config.tracking.track_http_method is on


def test_the_reference_spelling_of_skip_keeps_its_meaning() -> None:
    _, config = parse("--skip", "3")
    assert config.state.skip == 3


def test_an_unknown_option_names_itself() -> None:
    with pytest.raises(click.NoSuchOption, match="--no-such-option"):
        parse("--no-such-option")


def test_track_http_method_before_a_file_keeps_the_file() -> None:
    ctx = main.make_context("import-logs", ["--track-http-method", LOG])
    assert ctx.params["track_http_method"] is True and ctx.params["files"] == (LOG,)
