#!/usr/bin/env python3
"""Migration off AWS on a converged data host: Postgres dump/restore against logical
replication, S3 objects/s and MB/s, Redis keys/s, and the cutover's downtime.

The sources are the STAND-INS of tests/standins/aws_sources.yml (an RDS-like cluster, moto's S3
server, an ElastiCache-like Redis), started on the data host itself, so every number is a copy
between two processes on one machine: it measures Hearth's tools and their settings, not a
network to AWS. Runs playbooks/migrate.yml exactly as a user would, against a lab host:

    python3 bench/migrate.py [--inventory inventories/lab] [--limit hearth-lab-1] \
        [--container hearth-lab-1] [--rows 20000] [--objects 400] [--keys 50000] [--rounds 3]

In one run, on the same data, each round (dump and logical alternate which goes first):

1. `dump`: pg_dump -Fd -j N / pg_restore -j N of the benchmark database (768-dimension vectors
   with an HNSW index) into a fresh target; rows/s and MB/s of the dump.
2. `logical`: tables, subscription, initial copy, then the indexes, into another fresh target
   (rows/s over copy and index build), then the cutover while nothing writes (downtime in
   seconds); the source is made writable again.
3. S3: every object of one bucket into a fresh MinIO bucket (objects/s, MB/s).
4. Redis: `--keys` keys into an empty database, 12 + the round's index (keys/s).

The bench_* databases and the bench-copy bucket it creates are removed at the end; Redis
databases 12 onwards keep the copied bench:* keys (lab hosts only). Results go to
bench/results/migrate.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "migrate.json"
SECRETS = ROOT / ".cache" / "bench" / "migrate-standin-secrets.json"
STANDIN = "/srv/aws-standin"
SOURCE_DB = "bench_src"
MB = 1_000_000


def host(container: str, command: str) -> str:
    """Run a shell command in the data host's container and return its output."""
    result = subprocess.run(["docker", "exec", "-e", "PGOPTIONS=-c default_transaction_read_only=off",
                             container, "bash", "-c", command], text=True, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{command!r} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout.strip()


def psql(container: str, sql: str, port: int = 5432, database: str = "postgres") -> str:
    return host(container, f"runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -p {port} -d {database} -c {shlex.quote(sql)}")


def standin_secrets() -> dict[str, str]:
    """The stand-ins' passwords: made once, kept (0600) so later runs reach the same stand-ins."""
    if not SECRETS.exists():
        SECRETS.parent.mkdir(parents=True, exist_ok=True)
        values = {"vault_migrate_rds_password": "bench-" + secrets.token_hex(16),
                  "vault_migrate_elasticache_token": "bench-" + secrets.token_hex(16)}
        SECRETS.write_text(json.dumps(values))
        SECRETS.chmod(0o600)
    return json.loads(SECRETS.read_text())


def playbook(args: argparse.Namespace, path: str, extra: dict[str, Any]) -> float:
    """Run a playbook on the data host with extra variables from a private file; wall seconds."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(extra, handle)
    os.chmod(handle.name, 0o600)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="default")
    start = time.perf_counter()
    try:
        result = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", args.inventory,
                                 "--limit", args.limit, path, "-e", f"@{handle.name}"],
                                cwd=ROOT, env=env, text=True, capture_output=True, check=False)
    finally:
        os.unlink(handle.name)
    if result.returncode != 0:
        raise RuntimeError(f"{path} failed:\n{result.stdout[-4000:]}")
    return time.perf_counter() - start


def seed(args: argparse.Namespace, values: dict[str, str]) -> dict[str, Any]:
    """The benchmark's source data: vectors in Postgres, objects in S3, keys in Redis."""
    exists = psql(args.container, f"SELECT count(*) FROM pg_database WHERE datname = '{SOURCE_DB}'", port=5433)
    if exists == "0":
        psql(args.container, f"CREATE DATABASE {SOURCE_DB} OWNER hearthmaster", port=5433)
    psql(args.container, "CREATE EXTENSION IF NOT EXISTS vector", port=5433, database=SOURCE_DB)
    if psql(args.container, "SELECT to_regclass('public.docs') IS NULL", port=5433, database=SOURCE_DB) == "t":
        psql(args.container, f"""
            SET ROLE hearthmaster;
            CREATE TABLE docs (id bigserial PRIMARY KEY, title text, embedding vector(768));
            INSERT INTO docs (title, embedding)
              SELECT 'doc ' || g, (SELECT array_agg(random()::real) FROM generate_series(1, 768) WHERE g > 0)::vector
              FROM generate_series(1, {args.rows}) g;
            CREATE INDEX docs_embedding ON docs USING hnsw (embedding vector_cosine_ops);""",
             port=5433, database=SOURCE_DB)
    size = int(psql(args.container, f"SELECT pg_database_size('{SOURCE_DB}')", port=5433))
    rows = int(psql(args.container, "SELECT count(*) FROM docs", port=5433, database=SOURCE_DB))
    host(args.container, f"printf '%s\\n' {shlex.quote(values['vault_migrate_elasticache_token'])} > {STANDIN}/bench.token"
                         f" && chmod 600 {STANDIN}/bench.token")
    keys = json.loads(host(args.container, f"python3 {STANDIN}/aws_seed.py redis-bulk {STANDIN}/bench.token 2 {args.keys}"))
    objects = json.loads(host(args.container, f"python3 {STANDIN}/aws_seed.py s3-seed {STANDIN}/s3-keys.json bench-uploads {args.objects}"))
    return {"rows": rows, "database_bytes": size, "keys": keys["keys"], "objects": objects["objects"], "object_bytes": objects["bytes"]}


def source(values: dict[str, str], container: str) -> dict[str, Any]:
    keys = json.loads(host(container, f"cat {STANDIN}/s3-keys.json"))
    return {
        "pg": {"host": "127.0.0.1", "port": 5433, "user": "hearthmaster", "password": values["vault_migrate_rds_password"],
               "sslmode": "verify-full", "sslrootcert": f"{STANDIN}/tls.crt"},
        "s3": {"endpoint": "http://127.0.0.1:9960", "access_key": keys["access_key"], "secret_key": keys["secret_key"],
               "buckets": [{"name": "bench-uploads", "target": "bench-copy"}]},
        "redis": {"host": "127.0.0.1", "port": 6390, "tls": True, "ca_file": f"{STANDIN}/tls.crt",
                  "password": values["vault_migrate_elasticache_token"]},
    }


def clean_targets(args: argparse.Namespace) -> None:
    """Remove what the previous copy made: target databases, their state, the bucket, the keys."""
    for target in ("bench_dump", "bench_logical"):
        # Detached from its slot first, so the drop needs no connection to the source (the slot
        # is dropped there below).
        sub = f"hearth_migrate_{target}"
        host(args.container, f"runuser -u postgres -- psql -XAtq -d {target} -c 'ALTER SUBSCRIPTION {sub} DISABLE' "
                             f"-c 'ALTER SUBSCRIPTION {sub} SET (slot_name = NONE)' -c 'DROP SUBSCRIPTION {sub}'"
                             f" 2>/dev/null || true")
        psql(args.container, f"DROP DATABASE IF EXISTS {target} WITH (FORCE)")
        host(args.container, f"rm -f /var/lib/hearth-migrate/postgres/{target}.json")
    psql(args.container, f"ALTER DATABASE {SOURCE_DB} RESET default_transaction_read_only", port=5433)
    psql(args.container, "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots "
                         "WHERE slot_name LIKE 'hearth_migrate_bench%' AND NOT active", port=5433)
    psql(args.container, "DROP PUBLICATION IF EXISTS hearth_migrate_bench_logical", port=5433, database=SOURCE_DB)
    host(args.container, "rclone --config /var/lib/hearth-migrate/rclone.conf purge hearth:bench-copy 2>/dev/null || true")


def report(directory: str, limit: str) -> dict[str, Any]:
    return json.loads(Path(directory, f"{limit}-migrate.json").read_text())


def one_round(args: argparse.Namespace, src: dict[str, Any], data: dict[str, Any], order: list[str],
              redis_db: int) -> dict[str, Any]:
    clean_targets(args)
    reports = tempfile.mkdtemp(prefix="hearth-bench-migrate-")
    common = {"migrate_report_dir": reports, "migrate_postgres_source": {}, "migrate_s3_source": {}, "migrate_redis_source": {}}
    result: dict[str, Any] = {"order": order}
    for method in order:
        pg = dict(src["pg"], databases=[{"name": SOURCE_DB, "target": f"bench_{method}", "owner": "app", "method": method}])
        playbook(args, "playbooks/migrate.yml", dict(common, migrate_postgres_source=pg))
        first = report(reports, args.limit)["postgres"][0]
        if method == "dump":
            seconds = first["dump_seconds"] + first["restore_seconds"]
            result["dump"] = {"seconds": seconds, "dump_seconds": first["dump_seconds"],
                              "restore_seconds": first["restore_seconds"], "rows_per_second": data["rows"] / seconds,
                              "mb_per_second": data["database_bytes"] / MB / seconds}
        else:
            playbook(args, "playbooks/migrate.yml", dict(common, migrate_postgres_source=pg, migrate_postgres_cutover=True))
            cut = report(reports, args.limit)["postgres"][0]
            seconds = first["copy_seconds"] + first["index_seconds"]
            result["logical"] = {"seconds": seconds, "copy_seconds": first["copy_seconds"],
                                 "index_seconds": first["index_seconds"], "rows_per_second": data["rows"] / seconds,
                                 "mb_per_second": data["database_bytes"] / MB / seconds,
                                 "cutover_downtime_seconds": cut["downtime_seconds"]}
    redis = dict(src["redis"], databases=[{"source": 2, "target": redis_db}])
    playbook(args, "playbooks/migrate.yml", dict(common, migrate_s3_source=src["s3"], migrate_redis_source=redis))
    last = report(reports, args.limit)
    result["s3"] = {k: last["s3"][0][k] for k in ("seconds", "objects_per_second", "mb_per_second", "copied_objects")}
    result["redis"] = {"keys_per_second": last["redis"][0]["keys_per_second"], "copied": last["redis"][0]["copied"]}
    return result


def median(rounds: list[dict[str, Any]], part: str, key: str) -> float:
    return round(statistics.median(r[part][key] for r in rounds), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default="inventories/lab")
    parser.add_argument("--limit", default="hearth-lab-1")
    parser.add_argument("--container", default="hearth-lab-1")
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--objects", type=int, default=400)
    parser.add_argument("--keys", type=int, default=50000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    values = standin_secrets()
    playbook(args, "tests/standins/aws_sources.yml", values)
    data = seed(args, values)
    src = source(values, args.container)
    rounds = []
    for index in range(args.rounds):
        order = ["dump", "logical"] if index % 2 == 0 else ["logical", "dump"]
        rounds.append(one_round(args, src, data, order, redis_db=12 + index))
        print(json.dumps(rounds[-1]), flush=True)
    clean_targets(args)

    results = {
        "benchmark": "migrate",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "note": ("sources are the stand-ins on the data host itself (loopback): Hearth's tools and settings, "
                 "not a network to AWS; medians of the rounds, each round on fresh targets"),
        "data": data,
        "rounds": rounds,
        "median": {
            "dump_seconds": median(rounds, "dump", "seconds"),
            "dump_rows_per_second": median(rounds, "dump", "rows_per_second"),
            "dump_mb_per_second": median(rounds, "dump", "mb_per_second"),
            "logical_copy_seconds": median(rounds, "logical", "seconds"),
            "logical_rows_per_second": median(rounds, "logical", "rows_per_second"),
            "logical_mb_per_second": median(rounds, "logical", "mb_per_second"),
            "cutover_downtime_seconds": median(rounds, "logical", "cutover_downtime_seconds"),
            "s3_objects_per_second": median(rounds, "s3", "objects_per_second"),
            "s3_mb_per_second": median(rounds, "s3", "mb_per_second"),
            "redis_keys_per_second": median(rounds, "redis", "keys_per_second"),
        },
    }
    results["median"]["logical_to_dump_time_ratio"] = round(
        results["median"]["logical_copy_seconds"] / results["median"]["dump_seconds"], 3)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["median"], indent=2))


if __name__ == "__main__":
    main()
