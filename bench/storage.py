#!/usr/bin/env python3
"""What Caddy costs in front of MinIO: S3 throughput and per-request latency, direct vs proxied.

Runs where both endpoints are reachable (inside a lab or test host converged with the minio and
caddy roles, or on the controller against ports published on 127.0.0.1):

    python3 bench/storage.py --direct http://127.0.0.1:9000 --proxied https://s3.lab.hearth.test \\
        --ca /usr/local/share/ca-certificates/hearth-lab-ca.crt --access-key ... --secret-key ... \\
        --bucket bench --out /tmp/storage.json

Throughput: median seconds of PUT and GET (boto3 put_object / get_object) for 1 MiB and
64 MiB objects, as MiB/s, and proxied/direct as a ratio (1.0 = free). Latency: median of N
small GETs (/minio/health/live) over one kept-alive connection each way; the difference is
what one Caddy hop adds. Only the given endpoints are contacted.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import ssl
import statistics
import sys
import time
import urllib.parse
from typing import Any, Callable

MIB = 1024 * 1024
SIZES = {"1MiB": (1 * MIB, 15), "64MiB": (64 * MIB, 4)}


def median_seconds(run: Callable[[], None], repeats: int) -> float:
    """Median wall time of `repeats` calls, after one warm-up call."""
    run()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def s3_client(endpoint: str, ca: str | None, key: str, secret: str) -> Any:
    import boto3  # imported here so --help works without it
    from botocore.client import Config

    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
        region_name="us-east-1", verify=ca or True,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, max_pool_connections=4),
    )


def throughput(client: Any, bucket: str, label: str, size: int, repeats: int) -> dict[str, float]:
    """PUT and GET MiB/s for one object size (median of `repeats`)."""
    body = os.urandom(size)
    key = f"bench/{label}-{size}"

    def put() -> None:
        client.put_object(Bucket=bucket, Key=key, Body=body)

    def get() -> None:
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        if len(data) != size:
            raise RuntimeError(f"short read: {len(data)} of {size} bytes")

    put_s = median_seconds(put, repeats)
    get_s = median_seconds(get, repeats)
    client.delete_object(Bucket=bucket, Key=key)
    mib = size / MIB
    return {"put_mib_s": round(mib / put_s, 1), "get_mib_s": round(mib / get_s, 1),
            "put_median_s": round(put_s, 4), "get_median_s": round(get_s, 4)}


def request_latency(endpoint: str, ca: str | None, requests: int) -> float:
    """Median milliseconds of a small GET over one kept-alive connection."""
    url = urllib.parse.urlsplit(endpoint)
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(url.hostname or "", url.port or 443,
                                                                       context=context, timeout=10)
    else:
        conn = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=10)

    def one() -> None:
        conn.request("GET", "/minio/health/live")
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{endpoint}: HTTP {response.status}")

    try:
        return median_seconds(one, requests) * 1000
    finally:
        conn.close()


def ratio(proxied: float, direct: float) -> float:
    """proxied/direct, rounded; 1.0 means the proxy costs nothing."""
    return round(proxied / direct, 3) if direct else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--direct", required=True, help="MinIO S3 endpoint, e.g. http://127.0.0.1:9000")
    parser.add_argument("--proxied", required=True, help="the same through Caddy, e.g. https://s3.lab.hearth.test")
    parser.add_argument("--ca", help="CA file for the proxied endpoint (the lab CA)")
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--bucket", default="bench")
    parser.add_argument("--requests", type=int, default=300, help="small requests per endpoint for latency")
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args(argv)

    direct = s3_client(args.direct, None, args.access_key, args.secret_key)
    proxied = s3_client(args.proxied, args.ca, args.access_key, args.secret_key)
    try:
        direct.head_bucket(Bucket=args.bucket)
    except Exception:  # noqa: BLE001 - any failure means "create it"
        direct.create_bucket(Bucket=args.bucket)

    results: dict[str, Any] = {"throughput": {}, "latency_ms": {}}
    for label, (size, repeats) in SIZES.items():
        d = throughput(direct, args.bucket, "direct", size, repeats)
        p = throughput(proxied, args.bucket, "proxied", size, repeats)
        results["throughput"][label] = {
            "repeats": repeats, "direct": d, "via_caddy": p,
            "put_ratio": ratio(p["put_mib_s"], d["put_mib_s"]),
            "get_ratio": ratio(p["get_mib_s"], d["get_mib_s"]),
        }
    lat_direct = request_latency(args.direct, None, args.requests)
    lat_proxied = request_latency(args.proxied, args.ca, args.requests)
    results["latency_ms"] = {
        "requests": args.requests,
        "direct_median": round(lat_direct, 3),
        "via_caddy_median": round(lat_proxied, 3),
        "added_per_hop": round(lat_proxied - lat_direct, 3),
    }
    import boto3

    results["environment"] = {
        "python": platform.python_version(), "boto3": boto3.__version__, "cpus": os.cpu_count(),
        "direct": args.direct, "proxied": args.proxied,
        "note": "same host; proxied adds TLS termination (HTTP/1.1 keep-alive) and one Caddy hop",
    }
    with open(args.out, "w", encoding="utf-8") as stream:
        json.dump(results, stream, indent=2)
        stream.write("\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
