#!/usr/bin/env python3
"""Smoke checks of a converged lab with real clients, through ports published on 127.0.0.1.

Two kinds of checks: the smoke checks every service published with its offer (read from the lab
hosts' recorded offers, so a new service is checked with no change here), and deeper checks
with each data service's own client (psycopg, redis-py, boto3) for the services a host offers.
Each check prints one line; the exit status is the number of failed checks.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Callable

import socket
import ssl
import urllib.error
import urllib.request

from ansible_collections.hearth.platform.plugins.filter.platform import hearth_checks

import boto3
import psycopg
import redis
from botocore.config import Config


def check_postgres(secrets: Path, port: int) -> str:
    password = (secrets / "postgres_app").read_text().split()[0]
    with psycopg.connect(host="127.0.0.1", port=port, dbname="app", user="app", password=password,
                         connect_timeout=5) as conn:
        table = f"smoke_{uuid.uuid4().hex[:8]}"
        conn.execute(f"create temp table {table} (id int, embedding vector(3))")
        conn.execute(f"insert into {table} values (1, '[1,0,0]'), (2, '[0,1,0]')")
        row = conn.execute(f"select id from {table} order by embedding <-> '[0,0.9,0]' limit 1").fetchone()
        version = conn.execute("select extversion from pg_extension where extname = 'vector'").fetchone()
    assert row == (2,), f"nearest neighbour was {row}, expected (2,)"
    return f"pgvector {version[0]} answers a nearest-neighbour query as user app over scram"


def check_redis(secrets: Path, port: int) -> str:
    password = (secrets / "redis_app").read_text().split()[0]
    client = redis.Redis(host="127.0.0.1", port=port, username="app", password=password, socket_timeout=5)
    key = f"smoke:{uuid.uuid4().hex[:8]}"
    client.set(key, "ok", ex=60)
    assert client.get(key) == b"ok"
    try:
        client.flushall()
    except redis.exceptions.NoPermissionError:
        pass
    else:
        raise AssertionError("FLUSHALL was allowed for the app user")
    try:
        redis.Redis(host="127.0.0.1", port=port, socket_timeout=5).ping()
    except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError):
        pass
    else:
        raise AssertionError("an unauthenticated PING was answered")
    return "Redis accepts the app user, refuses FLUSHALL and unauthenticated clients"


def resolve_to_loopback(names: set[str]) -> None:
    """Send the lab's public names to 127.0.0.1, as `curl --resolve` would; nothing else changes."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        return real("127.0.0.1" if host in names else host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


def check_minio(secrets: Path, domain: str, port: int, ca: Path) -> str:
    secret = (secrets / "minio_app").read_text().split()[0]
    s3 = boto3.client(
        "s3", endpoint_url=f"https://s3.{domain}:{port}", aws_access_key_id="app", aws_secret_access_key=secret,
        region_name="us-east-1", verify=str(ca), config=Config(signature_version="s3v4", retries={"max_attempts": 2}),
    )
    key = f"smoke/{uuid.uuid4().hex[:8]}.txt"
    body = b"hearth smoke " + key.encode()
    s3.put_object(Bucket="app", Key=key, Body=body)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="app", Prefix="smoke/").get("Contents", [])]
    assert key in listed, f"{key} not listed"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "app", "Key": key}, ExpiresIn=60)
    context = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(url, context=context, timeout=10) as response:  # noqa: S310 - https only
        fetched = response.read()
    s3.delete_object(Bucket="app", Key=key)
    assert fetched == body, "presigned GET returned other bytes"
    return "boto3 puts, lists, deletes and a presigned URL returns the bytes, through Caddy with the lab CA"


def check_http_redirect(domain: str, port: int) -> str:
    request = urllib.request.Request(f"http://s3.{domain}:{port}/", method="GET")
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(request, timeout=10)
    except urllib.error.HTTPError as exc:
        location = exc.headers.get("Location", "")
        assert exc.code in (301, 302, 307, 308) and location.startswith("https://"), f"{exc.code} {location}"
        return f"plain HTTP answers {exc.code} to {location}"
    raise AssertionError("plain HTTP was served without a redirect")


def check_llm(secrets: Path, domain: str, port: int, ca: Path, model: str) -> str:
    import json

    key = (secrets / "caddy_api_key").read_text().split()[0]
    url = f"https://api.{domain}:{port}/llm/v1/chat/completions"
    payload = json.dumps({"model": model, "messages": [{"role": "user", "content": "hello"}],
                          "max_tokens": 8}).encode()
    context = ssl.create_default_context(cafile=str(ca))

    def post(headers: dict[str, str]) -> tuple[int, bytes]:
        request = urllib.request.Request(url, data=payload, method="POST",
                                         headers={"Content-Type": "application/json", **headers})
        try:
            with urllib.request.urlopen(request, context=context, timeout=60) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    status, _ = post({})
    assert status == 401, f"without a key the LLM route answered {status}"
    status, body = post({"Authorization": f"Bearer {key}"})
    assert status == 200, f"with the key the LLM route answered {status}: {body[:200]!r}"
    answer = json.loads(body)
    tokens = answer["usage"]["completion_tokens"]
    return f"/llm/v1/chat/completions answers {model} with the bearer key ({tokens} tokens), 401 without"


def read_offers(containers: list[str]) -> dict[str, dict]:
    """What each lab host's services published: {host: {offer name: offer}}, read with docker exec."""
    platform: dict[str, dict] = {}
    for name in containers:
        proc = subprocess.run(["docker", "exec", name, "cat", "/etc/ansible/facts.d/hearth_offers.fact"],
                              capture_output=True, text=True, check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            platform[name] = json.loads(proc.stdout)
    return platform


def check_published(check: dict, port: int, ca: Path, secrets: Path) -> str:
    """One smoke check a service published: an HTTPS request through Caddy and its expected status."""
    headers = {}
    if check["auth"] == "bearer":
        headers["Authorization"] = "Bearer " + (secrets / "caddy_api_key").read_text().split()[0]
    url = f"https://{check['host']}:{port}{check['path']}"
    request = urllib.request.Request(url, method=check["method"], headers=headers)
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(request, context=context, timeout=20) as response:  # noqa: S310 - https only
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status in check["status"], f"{check['method']} {url} answered {status}, expected {check['status']}"
    return f"{check['method']} https://{check['host']}{check['path']} ({check['auth']}) answers {status}"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Surface redirects as errors so the check can read them."""

    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--secrets", type=Path, default=Path("inventories/lab/.secrets"))
    parser.add_argument("--postgres-port", type=int, default=15432)
    parser.add_argument("--redis-port", type=int, default=16379)
    parser.add_argument("--https-port", type=int, default=8443)
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--domain", default="lab.hearth.test")
    parser.add_argument("--model", default="hearth-tiny")
    parser.add_argument("--ca", type=Path, default=Path(".cache/lab-ca/hearth-lab-1-root.crt"))
    parser.add_argument("--container", action="append", default=None,
                        help="lab host container to read offers from (repeatable; default hearth-lab-1)")
    args = parser.parse_args()
    platform = read_offers(args.container or ["hearth-lab-1"])
    offered = {name for offers in platform.values() for name in offers}
    published = hearth_checks(platform, args.domain)
    resolve_to_loopback({check["host"] for check in published} | {f"s3.{args.domain}"})
    deep: dict[str, tuple[str, Callable[[], str]]] = {
        "postgres": ("postgres", lambda: check_postgres(args.secrets, args.postgres_port)),
        "redis": ("redis", lambda: check_redis(args.secrets, args.redis_port)),
        "minio": ("minio", lambda: check_minio(args.secrets, args.domain, args.https_port, args.ca)),
        "caddy": ("caddy", lambda: check_http_redirect(args.domain, args.http_port)),
        "llm": ("llm", lambda: check_llm(args.secrets, args.domain, args.https_port, args.ca, args.model)),
    }
    checks: list[tuple[str, Callable[[], str]]] = [
        (check["service"], lambda check=check: check_published(check, args.https_port, args.ca, args.secrets))
        for check in published
    ] + [deep[name] for name in deep if name in offered]
    if not platform:
        print("  FAIL  no lab host recorded any offer: has the lab converged?")
        return 1
    failed = 0
    for name, check in checks:
        try:
            print(f"  ok    {name:9} {check()}")
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the others
            failed += 1
            print(f"  FAIL  {name:9} {type(exc).__name__}: {exc}")
    print(f"smoke: {len(checks) - failed} passed, {failed} failed")
    return failed


if __name__ == "__main__":
    sys.exit(main())
