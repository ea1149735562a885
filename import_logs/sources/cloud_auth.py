"""Where the credentials of an object store come from, and what to say when there are none.

S3: the environment's keys (``AWS_ACCESS_KEY_ID``...), a web identity or container role named in the environment,
``AWS_SKIP_SIGNATURE`` for a public bucket, or, with boto3 installed, its chain (profiles, SSO, assumed roles).
The instance's role is asked of the EC2 instance-metadata address last, and only where that can be meant: not with
an endpoint of its own (``--s3-endpoint-url``: MinIO, R2, a test server, where an AWS role means nothing), nor
with ``AWS_EC2_METADATA_DISABLED`` set, as the AWS SDKs do. Then, with nothing found, the import says so before
any request, rather than a connection error to an address the user never named.
"""

from __future__ import annotations

import os
from typing import Any

from import_logs.errors import InputError

CREDENTIALS = {
    "s3": "Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (profiles need boto3 installed), or "
    "the instance's role.",
    "gs": "Check GOOGLE_APPLICATION_CREDENTIALS (a service account key file) or the instance's service account.",
    "az": "Check AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY (or a SAS token, or AZURE_CLIENT_ID...).",
}
#: What a store's error says when it was the instance-metadata address that did not answer.
INSTANCE_METADATA = ("169.254.169.254", "/latest/api/token", "/latest/meta-data/")
#: Variables that name credentials obstore reads by itself (besides the keys).
_NAMED = ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
_TRUE = ("1", "true", "yes", "on")


def no_credentials(url: str, detail: str = "") -> InputError:
    return InputError(
        url,
        "no credentials found" + (f" ({detail})" if detail else ""),
        "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE "
        "(profiles need boto3 installed); for a public bucket, AWS_SKIP_SIGNATURE=true.",
    )


def s3_credentials(url: str, config: dict[str, Any], *, endpoint: str | None) -> Any:
    """The credential provider to give obstore (None: obstore's own, from the environment); an
    :class:`InputError` when none can be found without asking the instance-metadata address, and it may not be
    asked (an ``endpoint`` of its own, or ``AWS_EC2_METADATA_DISABLED``)."""
    env = os.environ
    disabled = env.get("AWS_EC2_METADATA_DISABLED", "").lower() in _TRUE
    probe_instance = not endpoint and not disabled
    if env.get("AWS_ACCESS_KEY_ID") or any(env.get(name) for name in _NAMED):
        return None
    if env.get("AWS_SKIP_SIGNATURE", "").lower() in _TRUE:
        return None
    provider = _boto3_chain(config, probe_instance)
    if provider is None and not probe_instance:
        why = f"an instance's role is not asked for {endpoint}" if endpoint else "AWS_EC2_METADATA_DISABLED is set"
        raise no_credentials(url, f"none in the environment or a profile; {why}")
    return provider


def _boto3_chain(config: dict[str, Any], probe_instance: bool) -> Any:
    """With boto3 installed: its provider chain (profiles, SSO, roles), the instance's role left out unless it may
    be asked; None when it finds nothing."""
    try:
        import boto3
        import botocore.session
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError:
        return None
    core = botocore.session.get_session()
    if not probe_instance:
        core.get_component("credential_provider").remove("iam-role")
    session = boto3.Session(botocore_session=core)
    if session.get_credentials() is None:
        return None
    if session.region_name and "region" not in config:
        config["region"] = session.region_name
    return Boto3CredentialProvider(session)
