"""The options as declared (cli/options): what --help says of their defaults comes from where the defaults live
(the backend registry, the configuration's dataclasses), so the two cannot drift apart."""

from __future__ import annotations

from typing import Any

import click
import pytest
from conftest import SAMPLES

from import_logs.backends import destination
from import_logs.backends.registry import DEFAULT_BACKEND, REGISTRY
from import_logs.cli import main
from import_logs.cli.options import SECTIONS
from import_logs.cli.settings import build_config
from import_logs.config import BackendOptions, Config, Secret

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
