"""S3 access through boto3, pointed at the platform's MinIO by S3_ENDPOINT_URL.

Credentials and region come from the standard AWS_* variables; path-style addressing keeps
bucket names out of host names (one TLS name serves every bucket). A private CA bundle is
passed to boto3 explicitly, so it holds whichever of the bundle variables names it.
"""
from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

from refapp import logic


@functools.lru_cache(maxsize=4)
def client(settings: logic.Settings, timeout: float = 5.0, read_timeout: float = 30.0, attempts: int = 3) -> Any:
    """An S3 client, kept per settings and timeouts (clients are thread-safe and slow to build).

    The health check asks for short timeouts and one attempt, so it fails fast when MinIO is away.
    """
    settings.need("aws_access_key_id")
    settings.need("aws_secret_access_key")
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": attempts, "mode": "standard"},
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.need("s3_endpoint_url"),
        region_name=settings.aws_region or "us-east-1",
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        verify=settings.ca_bundle or None,
        config=config,
    )


def ping(settings: logic.Settings) -> None:
    """head_bucket on S3_BUCKET, for the health check (answers within about 2 seconds)."""
    client(settings, timeout=2.0, read_timeout=2.0, attempts=1).head_bucket(Bucket=settings.need("s3_bucket"))


def put_text(settings: logic.Settings, key: str, text: str) -> None:
    """Store a document's original text."""
    client(settings).put_object(Bucket=settings.need("s3_bucket"), Key=key, Body=text.encode(),
                                ContentType="text/plain; charset=utf-8")
