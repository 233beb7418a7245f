"""The one module that imports boto3: an S3 client for the Object Lock anchor, and the error
code inside a botocore failure.

The domain packages never import a cloud SDK (the import-linter contracts in pyproject.toml);
they call these two functions instead. Credentials come from the usual AWS chain (environment,
``~/.aws/config``, an instance or pod role); nothing here reads them.

Example::

    client = s3_client(endpoint_url="http://127.0.0.1:8333", region="us-east-1")
    try:
        client.head_bucket(Bucket="audit")
    except Exception as exc:
        error_code(exc)  # "404", "AccessDenied", ... or None for a non-S3 failure
"""

from __future__ import annotations

from typing import Any

from riskops.errors import MissingExtraError

CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 30


def s3_client(*, endpoint_url: str | None, region: str | None) -> Any:
    """A boto3 S3 client (SigV4, path-style addressing when an endpoint is given, standard
    retries). Raises MissingExtraError when boto3 is not installed."""
    try:
        import boto3
        from botocore.config import Config
    except ModuleNotFoundError as exc:
        if exc.name not in {"boto3", "botocore"}:
            raise
        raise MissingExtraError("The S3 Object Lock anchor", "boto3", "s3") from None
    config = Config(
        signature_version="s3v4",
        # A self-hosted endpoint (SeaweedFS, Ceph) rarely has a DNS name per bucket.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ``ClientError`` (``AccessDenied``, ``NoSuchBucket``,
    ``ObjectLockConfigurationNotFoundError``, ...), or None for any other exception."""
    response = getattr(exc, "response", None)
    if type(exc).__module__.split(".")[0] != "botocore" or not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


def is_botocore_error(exc: BaseException) -> bool:
    """True for any botocore failure (a refused request, a connection or timeout error)."""
    return type(exc).__module__.split(".")[0] == "botocore"
