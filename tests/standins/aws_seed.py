#!/usr/bin/python3
"""Seed the AWS stand-ins (tests/standins/aws_sources.yml) and compare them with Hearth's copies.

Test hosts only. Each subcommand prints one JSON document, so the platform scenario's verify
can assert on it. The data is deterministic (seeded), so a failure reproduces.

  s3-user KEYS                    create the IAM user and its key on moto (authentication on)
  s3-seed KEYS BUCKET N           a bucket with N objects: sizes, content types, user metadata
  s3-wrong-secret KEYS BUCKET     list with a wrong secret; prints the refusal's error code
  s3-compare KEYS BUCKET URL USER PASSFILE TARGET   every object's size, ETag, type and metadata
  redis-seed PASSFILE             keys of every type, some with TTLs, in databases 0 and 1
  redis-compare PASSFILE TARGET_PASSFILE PAIRS      values (DUMP) and TTLs, e.g. 0:10,1:11
  redis-bulk PASSFILE DB N         N small keys in database DB (the benchmark's data)
  redis-disabled PASSFILE         which of ElastiCache's disabled commands the stand-in refuses
  pg-seed                         (as postgres) tables with pgvector columns in appdb and legacy
"""
from __future__ import annotations

import hashlib
import json
import random
import sys
from typing import Any

S3_URL = "http://127.0.0.1:9960"
REDIS = {"host": "127.0.0.1", "port": 6390, "ssl": True, "ssl_ca_certs": "/srv/aws-standin/tls.crt"}
DISABLED = ["SYNC", "PSYNC", "CONFIG GET maxmemory", "BGSAVE", "DEBUG SLEEP 0", "MIGRATE 127.0.0.1 1 k 0 1"]


def out(value: Any) -> None:
    print(json.dumps(value, sort_keys=True))


def s3(keys_file: str | None = None, secret: str | None = None) -> Any:
    import boto3  # noqa: PLC0415
    if keys_file:
        with open(keys_file) as f:
            keys = json.load(f)
        key, secret = keys["access_key"], secret or keys["secret_key"]
    else:
        key, secret = "setup-key-unused", "setup-secret-unused"
    return boto3.client("s3", endpoint_url=S3_URL, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret)


def s3_user(keys_file: str) -> None:
    """The three unauthenticated requests moto allows: user, policy, key."""
    import boto3  # noqa: PLC0415
    iam = boto3.client("iam", endpoint_url=S3_URL, region_name="us-east-1",
                       aws_access_key_id="setup-key-unused", aws_secret_access_key="setup-secret-unused")
    iam.create_user(UserName="migrator")
    iam.put_user_policy(UserName="migrator", PolicyName="s3-all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    created = iam.create_access_key(UserName="migrator")["AccessKey"]
    with open(keys_file, "w") as f:
        json.dump({"access_key": created["AccessKeyId"], "secret_key": created["SecretAccessKey"]}, f)
    out({"user": "migrator"})


TYPES = ["application/json", "image/png", "text/plain; charset=utf-8", "application/pdf"]


def s3_seed(keys_file: str, bucket: str, count: int) -> None:
    from boto3.s3.transfer import TransferConfig  # noqa: PLC0415
    client = s3(keys_file)
    existing = [b["Name"] for b in client.list_buckets().get("Buckets", [])]
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    rng = random.Random(42)
    total = 0
    for i in range(count):
        body = rng.randbytes(rng.choice([0, 17, 1024, 40_000, 150_000]))
        client.put_object(Bucket=bucket, Key=f"uploads/{i // 50:02d}/doc-{i:04d}.bin", Body=body,
                          ContentType=TYPES[i % len(TYPES)], CacheControl="max-age=3600",
                          Metadata={"owner": f"team-{i % 3}", "sha256": hashlib.sha256(body).hexdigest()})
        total += len(body)
    # One object uploaded in parts, as large uploads from the AWS SDKs are (its ETag is not an MD5).
    big = rng.randbytes(6 * 1024 * 1024)
    client.upload_fileobj(__import__("io").BytesIO(big), bucket, "exports/large.bin",
                          ExtraArgs={"ContentType": "application/octet-stream", "Metadata": {"owner": "exports"}},
                          Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024))
    out({"bucket": bucket, "objects": count + 1, "bytes": total + len(big)})


def s3_wrong_secret(keys_file: str, bucket: str) -> None:
    from botocore.exceptions import ClientError  # noqa: PLC0415
    try:
        s3(keys_file, secret="not-the-secret-key-at-all").list_objects_v2(Bucket=bucket, MaxKeys=1)
        out({"refused": False})
    except ClientError as exc:
        out({"refused": True, "code": exc.response["Error"]["Code"]})


def s3_compare(keys_file: str, bucket: str, url: str, user: str, passfile: str, target: str) -> None:
    import boto3  # noqa: PLC0415
    with open(passfile) as f:
        password = f.read().strip()
    source = s3(keys_file)
    dest = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=user, aws_secret_access_key=password)
    mismatches, objects = [], 0
    for page in source.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            objects += 1
            a = source.head_object(Bucket=bucket, Key=item["Key"])
            try:
                b = dest.head_object(Bucket=target, Key=item["Key"])
            except Exception as exc:  # noqa: BLE001 (a missing object is a finding, not a crash)
                mismatches.append({"key": item["Key"], "missing": str(exc)})
                continue
            same = {
                "size": a["ContentLength"] == b["ContentLength"],
                "type": a.get("ContentType") == b.get("ContentType"),
                # rclone adds `mtime` and `btime` (the source's times) to what it writes; the rest must match.
                "metadata": a.get("Metadata") == {k: v for k, v in b.get("Metadata", {}).items()
                                                  if k not in ("mtime", "btime")},
                "cache": a.get("CacheControl") == b.get("CacheControl"),
                # Single-part ETags are MD5s on both sides; a multipart one is compared by content.
                "etag": a["ETag"] == b["ETag"] or "-" in a["ETag"] and hashlib.md5(
                    dest.get_object(Bucket=target, Key=item["Key"])["Body"].read()).hexdigest() == hashlib.md5(
                    source.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()).hexdigest(),
            }
            if not all(same.values()):
                mismatches.append({"key": item["Key"], **same})
    out({"objects": objects, "mismatches": mismatches[:20], "mismatch_count": len(mismatches)})


def redis_client(passfile: str, db: int, source: bool = True) -> Any:
    import redis  # noqa: PLC0415
    with open(passfile) as f:
        password = f.read().strip()
    if source:
        return redis.Redis(db=db, password=password, **REDIS)
    return redis.Redis(host="127.0.0.1", port=6379, db=db, username="admin", password=password)


def redis_seed(passfile: str) -> None:
    rng = random.Random(7)
    counts = {}
    for db, size in ((0, 1500), (1, 300)):
        r = redis_client(passfile, db)
        r.flushdb()
        pipe = r.pipeline(transaction=False)
        for i in range(size):
            key = f"session:{i}"
            pipe.set(key, json.dumps({"user": i, "cart": rng.sample(range(1000), 5)}))
            if i % 3 == 0:
                pipe.expire(key, 3600 + i)
        for i in range(size // 15):
            pipe.hset(f"user:{i}", mapping={"name": f"user {i}", "plan": "pro" if i % 2 else "free"})
            pipe.rpush(f"queue:{i}", *[f"job-{j}" for j in range(5)])
            pipe.sadd(f"tags:{i}", *[f"t{j}" for j in range(4)])
            pipe.zadd(f"rank:{i}", {f"m{j}": j * 1.5 for j in range(6)})
        pipe.xadd("events", {"kind": "signup"})
        pipe.execute()
        counts[db] = r.dbsize()
    out({"keys": counts})


def redis_bulk(passfile: str, db: str, count: str) -> None:
    """COUNT small string keys (a third with TTLs) in database DB, for the migration benchmark."""
    r = redis_client(passfile, int(db))
    r.flushdb()
    pipe = r.pipeline(transaction=False)
    for i in range(int(count)):
        pipe.set(f"bench:{i}", f"value-{i}-" + "x" * 64, ex=3600 if i % 3 == 0 else None)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    out({"keys": r.dbsize()})


def redis_compare(passfile: str, target_passfile: str, pairs: str) -> None:
    report = {}
    for pair in pairs.split(","):
        s, t = (int(x) for x in pair.split(":"))
        src, dst = redis_client(passfile, s), redis_client(target_passfile, t, source=False)
        bad, ttl_keys, keys = [], 0, 0
        for key in src.scan_iter(count=500):
            keys += 1
            src_ttl, dst_ttl = src.pttl(key), dst.pttl(key)
            if src.dump(key) != dst.dump(key):
                bad.append({"key": key.decode(), "value": "differs"})
            elif src_ttl > 0:
                ttl_keys += 1
                if not 0 < dst_ttl <= src_ttl + 120_000 or src_ttl - dst_ttl > 600_000:
                    bad.append({"key": key.decode(), "ttl": [src_ttl, dst_ttl]})
            elif dst_ttl != -1:
                bad.append({"key": key.decode(), "ttl": [src_ttl, dst_ttl]})
        report[pair] = {"keys": keys, "ttl_keys": ttl_keys, "bad": bad[:20], "bad_count": len(bad)}
    out(report)


def redis_disabled(passfile: str) -> None:
    import redis  # noqa: PLC0415
    r = redis_client(passfile, 0)
    refused = []
    for command in DISABLED:
        try:
            r.execute_command(*command.split())
        except redis.exceptions.ResponseError as exc:
            if "unknown command" in str(exc).lower():
                refused.append(command.split()[0])
    out({"refused": refused})


PG_SEED = {
    "appdb": """
        SET ROLE hearthmaster;
        CREATE TABLE IF NOT EXISTS documents (id bigserial PRIMARY KEY, title text NOT NULL, meta jsonb,
                                              embedding vector(16));
        CREATE INDEX IF NOT EXISTS documents_embedding ON documents USING hnsw (embedding vector_cosine_ops);
        CREATE TABLE IF NOT EXISTS events (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), note text);
        INSERT INTO documents (title, meta, embedding)
          SELECT 'doc ' || g, jsonb_build_object('n', g, 'team', g % 4),
                 (SELECT array_agg(sin(g * 0.37 + d * 1.3)) FROM generate_series(1, 16) d)::vector
          FROM generate_series(1, 3000) g;
        INSERT INTO events (note) SELECT 'before the copy ' || g FROM generate_series(1, 500) g;
    """,
    "legacy": """
        SET ROLE hearthmaster;
        CREATE SCHEMA IF NOT EXISTS billing;
        CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, name text, embedding vector(8));
        CREATE INDEX IF NOT EXISTS items_embedding ON items USING hnsw (embedding vector_l2_ops);
        CREATE TABLE IF NOT EXISTS billing.invoices (id bigserial PRIMARY KEY, item int REFERENCES items(id),
                                                     amount numeric(12, 2), paid boolean DEFAULT false);
        CREATE OR REPLACE VIEW billing.unpaid AS SELECT * FROM billing.invoices WHERE NOT paid;
        INSERT INTO items (name, embedding)
          SELECT 'item ' || g, (SELECT array_agg(cos(g * 0.11 + d)) FROM generate_series(1, 8) d)::vector
          FROM generate_series(1, 5000) g;
        INSERT INTO billing.invoices (item, amount, paid)
          SELECT 1 + g % 5000, (g * 7 % 1000) / 10.0, g % 3 = 0 FROM generate_series(1, 20000) g;
    """,
}


def pg_seed() -> None:
    import psycopg2  # noqa: PLC0415
    counts = {}
    for db, sql in PG_SEED.items():
        conn = psycopg2.connect(host="/var/run/postgresql", port=5433, dbname=db, user="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('documents') IS NOT NULL OR to_regclass('items') IS NOT NULL")
            if not cur.fetchone()[0]:
                cur.execute(sql)
            cur.execute("SELECT sum(n_live_tup) FROM pg_stat_user_tables")
            counts[db] = int(cur.fetchone()[0] or 0)
        conn.close()
    out({"seeded": counts})


def main(argv: list[str]) -> None:
    command, args = argv[1], argv[2:]
    handlers = {
        "s3-user": lambda: s3_user(*args),
        "s3-seed": lambda: s3_seed(args[0], args[1], int(args[2])),
        "s3-wrong-secret": lambda: s3_wrong_secret(*args),
        "s3-compare": lambda: s3_compare(*args),
        "redis-seed": lambda: redis_seed(*args),
        "redis-compare": lambda: redis_compare(*args),
        "redis-bulk": lambda: redis_bulk(*args),
        "redis-disabled": lambda: redis_disabled(*args),
        "pg-seed": pg_seed,
    }
    handlers[command]()


if __name__ == "__main__":
    main(sys.argv)
