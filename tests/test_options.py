"""The options as declared (cli/options): what --help says of their defaults comes from where the defaults live
(the backend registry, the configuration's dataclasses), so the two cannot drift apart."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import click
import pytest
from conftest import SAMPLES

from import_logs.backends import destination
from import_logs.backends.registry import DEFAULT_BACKEND, REGISTRY
from import_logs.cli import main
from import_logs.cli.options import SECTIONS
from import_logs.cli.options.section import ConfigOption, option
from import_logs.cli.settings import build_config
from import_logs.config import BackendOptions, Config, Secret, field_default

LOG = str(SAMPLES / "common_complete.log")


def parse(*args: str) -> tuple[dict[str, Any], Config]:
    ctx = main.make_context("import-logs", [*args, LOG])
    return ctx.params, build_config(ctx.params)


def declared(name: str) -> click.Option:
    """The option whose long name is ``name``."""
    return next(opt for section in SECTIONS for opt in section.options if name in opt.opts)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "piwikpro"),
        (("--client-id=c", "--client-secret=s"), "piwikpro"),
        (("--token-auth=t",), "matomo"),
        (("--login=admin",), "matomo"),
        (("--config=/var/www/matomo",), "matomo"),
        (("--url=https://API.Pirsch.io",), "pirsch"),
        (("--client-secret=pa_key",), "pirsch"),
        (("--token-auth=t", "--url=https://api.pirsch.io"), "matomo"),  # an option that names a backend wins
        (("--backend=piwikpro", "--client-secret=pa_key"), "piwikpro"),
    ],
)
def test_the_backend_the_options_point_to(args: tuple[str, ...], expected: str) -> None:
    assert parse(*args)[1].backend.name == expected


def test_the_options_that_point_to_a_backend_are_options_of_that_name() -> None:
    """The registry names them by their long names; the CLI finds them by the parameter those names give."""
    for b in REGISTRY.values():
        for name in b.implied_by:
            assert declared(name).name == name[2:].replace("-", "_")


def test_the_help_s_defaults_per_backend_are_the_registry_s() -> None:
    help_of = {name: declared(name).help or "" for name in ("--backend", "--recorder-max-payload-size")}
    assert help_of["--backend"].endswith(f", else {DEFAULT_BACKEND}].")
    for b in REGISTRY.values():
        assert all(name in help_of["--backend"] for name in b.implied_by)
        assert all(mark in help_of["--backend"] for mark in (*b.url_marks, b.key_prefix or ""))
        said = str(b.payload_size) if b.name == DEFAULT_BACKEND else f"{b.title} {b.payload_size}"
        assert said in help_of["--recorder-max-payload-size"]
    url_help = declared("--url").help or ""
    assert all(f"{b.title} {b.default_url}" in url_help for b in REGISTRY.values() if b.default_url)
    path_help = declared("--tracker-endpoint-path").help or ""
    assert [b.name for b in REGISTRY.values() if b.tracker_path in path_help] == [
        b.name for b in REGISTRY.values() if b.endpoint_option
    ]


def test_a_state_key_changes_only_with_an_option_its_backend_uses() -> None:
    def of(**backend: Any) -> str | None:
        return destination(Config(inputs=("x",), backend=BackendOptions(**backend)))

    pirsch = {"name": "pirsch", "client_secret": Secret("pa_k")}
    assert of(**pirsch, tracker_endpoint_path="/other.php") == of(**pirsch)  # Pirsch's API path is fixed
    matomo = {"name": "matomo", "url": "https://m.example", "idsite": "1"}
    assert of(**matomo, tracker_endpoint_path="/js/") == "https://m.example/js/#1"


CONFIG_OPTIONS = [opt for section in SECTIONS for opt in section.options if isinstance(opt, ConfigOption)]


def test_the_options_that_set_a_field_are_known() -> None:
    """The defaults typed twice before (#27): each is now the configuration's alone."""
    assert {opt.field for opt in CONFIG_OPTIONS} >= {
        "http.timeout",
        "http.retry_delay",
        "state.lock_timeout",
        "follow.flush_interval",
        "follow.poll",
        "formats.encoding",
        "workers",
    }


@pytest.mark.parametrize("opt", CONFIG_OPTIONS, ids=lambda opt: opt.opts[0])
def test_an_option_s_default_and_help_are_its_field_s(opt: ConfigOption) -> None:
    expected = field_default(opt.field)
    expected = expected() if callable(expected) else expected
    ctx = main.make_context("import-logs", [LOG])
    assert opt.get_default(ctx) == expected
    assert ctx.params[opt.name or ""] == expected
    config = build_config(ctx.params)
    value: Any = config
    for part in opt.field.split("."):
        value = getattr(value, part)
    assert value == expected  # the option's value lands in its field as it is
    record = opt.get_help_record(ctx)
    if opt.show_default is True:
        assert record is not None and f"[default: {expected}" in record[1]


def test_the_configuration_of_no_options_is_the_configuration_s_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every option left out gives what the configuration's dataclasses say, whether the option, build_config or
    the dataclass holds the default: none can be changed in one place and not the other."""
    monkeypatch.setenv("IMPORT_LOGS_STATE_DIR", "/nowhere/state")
    config = parse()[1]
    defaults = Config(inputs=(LOG,))
    expected = replace(defaults, state=replace(defaults.state, directory="/nowhere/state"))
    assert config == expected


def test_an_option_that_sets_a_field_takes_no_default_of_its_own() -> None:
    with pytest.raises(TypeError, match=r"the default of http\.timeout is the configuration's"):
        option("--request-timeout", field="http.timeout", default=30.0)
