#!/usr/bin/env python3
"""Smoke checks of a converged lab with real clients, through ports published on 127.0.0.1.

Each check prints one line; the exit status is the number of failed checks.
"""
from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path
from typing import Callable

import psycopg
import redis


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--secrets", type=Path, default=Path("inventories/lab/.secrets"))
    parser.add_argument("--postgres-port", type=int, default=15432)
    parser.add_argument("--redis-port", type=int, default=16379)
    args = parser.parse_args()
    checks: list[tuple[str, Callable[[], str]]] = [
        ("postgres", lambda: check_postgres(args.secrets, args.postgres_port)),
        ("redis", lambda: check_redis(args.secrets, args.redis_port)),
    ]
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
