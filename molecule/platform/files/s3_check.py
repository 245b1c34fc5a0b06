#!/usr/bin/python3
"""Exercise MinIO with the AWS SDK the way an application would, and report what happened.

Usage: s3_check.py <endpoint> <ca-file|-> <access-key> <secret-key> <bucket> [<forbidden-bucket>]
Prints one JSON object. Exits non-zero on any unexpected result, with the step that failed.
"""
from __future__ import annotations

import json
import sys
import uuid

import boto3
from botocore.client import Config
from botocore.exceptions import ClientError


def client(endpoint: str, ca: str, key: str, secret: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
        region_name="us-east-1", verify=(ca if ca != "-" else True),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def main() -> int:
    endpoint, ca, key, secret, bucket = sys.argv[1:6]
    forbidden = sys.argv[6] if len(sys.argv) > 6 else ""
    s3 = client(endpoint, ca, key, secret)
    name = f"check/{uuid.uuid4().hex}.bin"
    body = uuid.uuid4().bytes * 4096  # 64 KiB of non-trivial bytes
    report: dict[str, object] = {"endpoint": endpoint, "bucket": bucket, "key": name}

    s3.put_object(Bucket=bucket, Key=name, Body=body)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="check/")
    report["listed"] = any(o["Key"] == name for o in listed.get("Contents", []))
    report["get_matches"] = s3.get_object(Bucket=bucket, Key=name)["Body"].read() == body
    report["presigned_url"] = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": name}, ExpiresIn=300)
    # Keep one object for the presigned fetch; its bytes go to a file the caller compares.
    with open("/tmp/hearth-s3-expected.bin", "wb") as stream:
        stream.write(body)
    probe = f"check/{uuid.uuid4().hex}.tmp"
    s3.put_object(Bucket=bucket, Key=probe, Body=b"x")
    s3.delete_object(Bucket=bucket, Key=probe)
    try:
        s3.head_object(Bucket=bucket, Key=probe)
        report["deleted"] = False
    except ClientError as exc:
        report["deleted"] = exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound")

    if forbidden:
        try:
            s3.list_objects_v2(Bucket=forbidden)
            report["forbidden_denied"] = False
        except ClientError as exc:
            report["forbidden_denied"] = exc.response["Error"]["Code"] == "AccessDenied"

    print(json.dumps(report))
    ok = report["listed"] and report["get_matches"] and report["deleted"] and report.get("forbidden_denied", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
