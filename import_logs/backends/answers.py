"""Is a success status the tracker's answer? A maintenance page, a captive portal or a proxy also answer 200.

A batch counts as imported only when the answer is recognised as the tracker's: Piwik PRO's 202/204 (or a
200 with an empty body, its pixel or JSON), Matomo's bulk JSON with its counts, Pirsch's empty or JSON body.
Anything else is :func:`not_a_tracker`: the import stops, and the batch is sent again by the next run. A JSON
body that reports an error (:func:`reported_error`) is a failed batch whatever its status.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from import_logs.backends.base import Batch
from import_logs.errors import ServerError
from import_logs.http import excerpt


def media_type(response: httpx.Response) -> str:
    return str(response.headers.get("content-type", "")).split(";")[0].strip().lower()


def json_body(response: httpx.Response) -> Any:
    """The answer's JSON document, or None when it is empty or not JSON."""
    body = response.content.strip()
    if not body or body[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def reported_error(response: httpx.Response) -> str | None:
    """The error a JSON answer reports in spite of its status, else None: ``{"errors": [...]}`` (JSON:API, a
    list of objects with a title or detail, or of strings) or ``{"status": "error", "message": ...}``."""
    data = json_body(response)
    if not isinstance(data, dict):
        return None
    errors = data.get("errors")
    if errors:
        items = errors if isinstance(errors, list) else [errors]
        texts = [_error_text(item) for item in items[:3]]
        return "; ".join(t for t in texts if t) or "no message"
    if data.get("status") == "error" or data.get("result") == "error":
        return str(data.get("message") or data.get("error") or "no message")
    return None


def _error_text(item: Any) -> str:
    if isinstance(item, dict):
        parts = [str(item[key]) for key in ("status", "code", "title", "detail", "message") if item.get(key)]
        return " ".join(parts) or json.dumps(item)[:120]
    return str(item)


def piwikpro_accepts(response: httpx.Response) -> bool:
    status = response.status_code
    if status in (202, 204):
        return True
    if status != 200:
        return False
    return not response.content.strip() or media_type(response).startswith("image/") or json_body(response) is not None


def pirsch_accepts(response: httpx.Response) -> bool:
    return 200 <= response.status_code < 300 and (not response.content.strip() or json_body(response) is not None)


def matomo_counts(response: httpx.Response) -> dict[str, Any] | None:
    """Matomo's bulk answer ``{"status": "success", "tracked": N, ...}``, or None when this is not one."""
    data = json_body(response)
    if isinstance(data, dict) and (data.get("status") == "success" or "tracked" in data):
        return data
    return None


def not_a_tracker(response: httpx.Response, *, url: str, backend: str, batch: Batch, start: int = 0) -> ServerError:
    """The error for a success status whose body is not the tracker's answer: nothing of the batch is counted."""
    path, lineno = batch.where(start)
    body = excerpt(response, 120)
    what = f"{media_type(response) or 'no content type'} ({body})" if body else "an empty body"
    return ServerError(
        f"POST {url} answered HTTP {response.status_code} with {what}, which is not the answer of a {backend} "
        f"tracker. The batch starting at {path}:{lineno} was not counted as imported; the next run sends it again. "
        "Check --url and --tracker-endpoint-path: a maintenance page, a login portal or a proxy may be answering "
        "in the tracker's place.",
        url=url,
        status=response.status_code,
        excerpt=excerpt(response),
        attempts=1,
    )
