"""Whether a Matomo records AI assistants' requests in its bot mode, asked once before the import starts.

Matomo 5.7 added a tracking mode that creates no visit (``recMode=1``, "bot only"), and its BotTracking plugin
builds the AI Assistants reports from such requests. It records only the user agents of AI assistants that fetch a
page for a person (ChatGPT-User, Claude-User, Perplexity-User, ...): other bots sent in that mode are detected and
discarded, so only AI assistants go there. An older Matomo ignores ``recMode`` and would count the request as a
visit: it never gets one. ``API.getMatomoVersion`` and ``API.isPluginActivated`` (``pluginName=BotTracking``)
tell; an error or ``false`` means no.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from import_logs.errors import AuthError, ConfigError, ServerError

#: The first Matomo with the bot mode and the BotTracking plugin.
FIRST = (5, 7)


def version_of(text: str) -> tuple[int, ...]:
    """``"5.7.0-b2"`` → (5, 7, 0); () when it is not a version."""
    found = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text.strip())
    return tuple(int(part) for part in found.groups() if part is not None) if found else ()


def records_bots(call: Callable[..., Any]) -> tuple[bool, str]:
    """(whether this Matomo records bot-mode requests, how to name it in a message)."""
    try:
        answer = call("API.getMatomoVersion")
    except (AuthError, ServerError):
        return False, "this Matomo (it does not say its version)"
    version = str(answer.get("value") if isinstance(answer, dict) else answer)
    if version_of(version) < FIRST:
        return False, f"Matomo {version} (bot tracking came with Matomo 5.7)"
    try:
        answer = call("API.isPluginActivated", pluginName="BotTracking")
    except (AuthError, ServerError):
        return False, f"Matomo {version} (it does not say whether its BotTracking plugin is active)"
    if (answer.get("value") if isinstance(answer, dict) else answer) is not True:
        return False, f"Matomo {version}, whose BotTracking plugin is not active"
    return True, f"Matomo {version}"


def bot_mode(wanted: bool | None, call: Callable[..., Any]) -> bool:
    """Whether AI assistants' requests go in bot mode: --ai-assistants (True), --no-ai-assistants (False), or
    neither (None: where the server records them). Asked for and not there: ConfigError with the fix."""
    if wanted is False:
        return False
    yes, what = records_bots(call)
    if wanted and not yes:
        raise ConfigError(
            f"--ai-assistants: {what} does not record AI assistants' requests (sent there they would count as "
            "visits). Update Matomo to 5.7 or later and activate its BotTracking plugin, or leave out "
            "--ai-assistants."
        )
    return yes
