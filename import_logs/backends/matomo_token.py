"""A Matomo token without one on the command line, as Matomo's own importer gets it on the Matomo server.

``--config`` names Matomo's ``config/config.ini.php`` (or the Matomo directory). The config file must be readable
by the user running the import; then ``PHP misc/cron/updatetoken.php --matomo-domain=HOST`` (``--php-binary``,
``--testmode`` with ``--enable-testmode``) runs in the Matomo directory: Matomo creates a temporary system token
(48 hours), writes ``<?php exit; //<TAB>TOKEN`` to a file under its tmp directory and prints that file's path.
The token is read from there, kept in a :class:`Secret`, and never printed.

``answers_as_matomo`` tells whether a URL is a Matomo, for the message given when no credentials came at all.
"""

from __future__ import annotations

import os
import subprocess
from urllib.parse import urlsplit

from import_logs.config import BackendOptions, HttpOptions, Secret
from import_logs.errors import AuthError, ConfigError

#: Where updatetoken.php lives under the Matomo directory.
SCRIPT = os.path.join("misc", "cron", "updatetoken.php")
#: Seconds the script may take (it boots Matomo once).
TIMEOUT = 120.0
#: The longest part of the script's output quoted in a message.
QUOTED = 400

#: The ways to a token, named when none is given (and when a URL given to another backend answers as Matomo).
NEEDS_TOKEN = (
    "Matomo needs a token. On the Matomo server, give --config with Matomo's config/config.ini.php (or its "
    "directory): the token is then made by Matomo's misc/cron/updatetoken.php, as Matomo's own importer does "
    "(--php-binary names the PHP). Elsewhere give --token-auth (better in IMPORT_LOGS_TOKEN_AUTH), created under "
    "Administration → Personal → Security → Auth tokens by a user with write access to the sites; or --login and "
    "--password (IMPORT_LOGS_PASSWORD) to create one for this run."
)
#: What every message about this way ends with: the other ways.
OTHER_WAYS = "Or give --token-auth (IMPORT_LOGS_TOKEN_AUTH), or --login and --password."


def matomo_paths(given: str) -> tuple[str, str]:
    """(config file, Matomo directory) of a ``--config`` value: the file, or a Matomo directory."""
    path = os.path.abspath(os.path.expanduser(given))
    if os.path.isdir(path):
        return os.path.join(path, "config", "config.ini.php"), path
    return path, os.path.dirname(os.path.dirname(path))


def check_config(given: str) -> tuple[str, str]:
    """The config file must exist and be readable by this user (as the reference requires), and the Matomo
    directory must hold the token script: (config file, Matomo directory), or ConfigError with the fix."""
    config_file, root = matomo_paths(given)
    try:
        with open(config_file, "rb") as stream:
            stream.read(1)
    except FileNotFoundError:
        raise ConfigError(
            f"--config {given}: {config_file} does not exist. Give Matomo's config/config.ini.php, or the "
            f"directory Matomo is installed in. {OTHER_WAYS}"
        ) from None
    except PermissionError:
        raise ConfigError(
            f"--config {given}: {config_file} cannot be read by the user running the import ({_user()}). Run the "
            "import as the user Matomo runs as (e.g. sudo -u www-data import-logs ...), or let this user read the "
            f"file. {OTHER_WAYS}"
        ) from None
    except OSError as exc:
        raise ConfigError(f"--config {given}: {config_file} cannot be read ({exc.strerror}). {OTHER_WAYS}") from None
    if not os.path.isfile(os.path.join(root, SCRIPT)):
        raise ConfigError(
            f"--config {given}: {root} has no {SCRIPT}, so it is not a Matomo directory. Give the config.ini.php "
            f"of the Matomo installation itself (its config/ directory). {OTHER_WAYS}"
        )
    return config_file, root


def token_from_php(options: BackendOptions, url: str) -> Secret:
    """Run Matomo's updatetoken.php and read the token it writes; ConfigError or AuthError with the fix."""
    assert options.matomo_config
    _config_file, root = check_config(options.matomo_config)
    host = urlsplit(url if "://" in url else f"https://{url}").hostname or ""
    php = options.php_binary or "php"
    command = [php, os.path.join(root, SCRIPT)]
    if options.php_testmode:
        command.append("--testmode")
    command.append(f"--matomo-domain={host}")
    shown = " ".join(command)
    try:
        done = subprocess.run(
            command, cwd=root, capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False
        )
    except FileNotFoundError:
        raise ConfigError(
            f"PHP was not found ({php}): Matomo's token script needs the PHP command line. Give its path with "
            f"--php-binary (e.g. --php-binary /usr/bin/php8.3). {OTHER_WAYS}"
        ) from None
    except PermissionError:
        raise ConfigError(f"--php-binary {php}: this user cannot run it (not executable). {OTHER_WAYS}") from None
    except subprocess.TimeoutExpired:
        raise AuthError(
            f"`{shown}` did not finish within {TIMEOUT:.0f} seconds. Run it by hand to see where it waits. "
            f"{OTHER_WAYS}",
            url=root,
        ) from None
    out = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip() or out.strip()  # PHP's CLI prints errors to stdout
        raise AuthError(
            f"`{shown}` failed (exit status {done.returncode}): {_shorten(said) or 'no message'}. Run it by hand as "
            f"the same user to see the whole message. {OTHER_WAYS}",
            url=root,
            excerpt=_shorten(said),
        )
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    if not lines:
        raise AuthError(
            f"`{shown}` printed nothing: it should print the path of the file it wrote the token to. {OTHER_WAYS}",
            url=root,
        )
    path = lines[-1]  # notices PHP prints before it do not hide the path
    path = path if os.path.isabs(path) else os.path.join(root, path)
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            first = stream.readline()
    except OSError as exc:
        raise AuthError(
            f"Matomo wrote its token to {path}, which cannot be read ({exc.strerror}). The user running the import "
            f"must be able to read Matomo's tmp directory: run the import as the user Matomo runs as. {OTHER_WAYS}",
            url=root,
        ) from None
    fields = first.split("\t")
    token = fields[1].strip() if len(fields) > 1 else ""
    if not token:
        raise AuthError(
            f"{path}, written by `{shown}`, holds no token (expected '<?php exit; //' then a tab and the token). "
            f"{OTHER_WAYS}",
            url=root,
        )
    return Secret(token)


def answers_as_matomo(url: str, http: HttpOptions) -> bool:
    """Whether ``url`` answers Matomo's API as only a Matomo does (a JSON ``result`` or ``value``); False when it
    cannot be reached. One short request, made only on the way to an error message."""
    import httpx  # only here: the CLI's options never need it

    base = (url if "://" in url else f"https://{url}").rstrip("/")
    host = (urlsplit(base).hostname or "").lower()
    if host == "piwik.pro" or host.endswith(".piwik.pro"):
        return False  # a Piwik PRO account by its name: no need to ask
    form = {"module": "API", "method": "API.getMatomoVersion", "format": "json"}
    try:
        response = httpx.post(f"{base}/index.php", data=form, timeout=http.connect_timeout, verify=http.verify_tls)
        data = response.json()
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(data, dict) and (data.get("result") in ("error", "success") or "value" in data)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTED else text[: QUOTED - 1] + "…"


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        return "this user"
