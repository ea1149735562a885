"""Backends: where hits go. Each has an encoder (runs in the workers) and a sender (runs in the lanes)."""

from __future__ import annotations

from import_logs.backends.base import Batch, Encoder, EncodeSpec, Sender
from import_logs.errors import ConfigError

BACKENDS = ("piwikpro",)


def make_encoder(spec: EncodeSpec) -> Encoder:
    """The encoder named by a spec; called once per worker."""
    if spec.backend == "piwikpro":
        from import_logs.backends.piwikpro_encode import PiwikProEncoder

        return PiwikProEncoder(spec)
    raise ConfigError(f"unknown backend {spec.backend!r}. Known backends: {', '.join(BACKENDS)}.")


__all__ = ["BACKENDS", "Batch", "EncodeSpec", "Encoder", "Sender", "make_encoder"]
