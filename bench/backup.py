#!/usr/bin/env python3
"""Backups on a converged data host: pgBackRest throughput per repository, restore time, RPO.

Runs against a lab or test host converged with site.yml (the backup role configured), through
`docker exec` (default `hearth-lab-1`, the host `make lab` starts):

    python3 bench/backup.py [--container platform-host] [--scale 64] [--rounds 3]

In one run, on the same data:

1. loads a pgbench database of `--scale` (64 is about 1 GB on disk) into a database of its own,
   `hearth_bench_backup`;
2. takes `--rounds` full backups to each repository in turn, alternating the repositories so
   both see the same machine state, and reports median seconds, MB/s of the cluster's size and
   what each stored; the ratio of the off-site (encrypted) repository to MinIO is the cost of
   encryption and the second store;
3. restores the newest full backup of each repository into a scratch directory, starts it on a
   Unix socket and waits until it answers (the restore time a real recovery would start from);
4. samples the age of the newest archived WAL segment (the data-loss window, bounded by
   archive_timeout).

The database is dropped at the end; its backups stay in the repositories until retention
expires them. Results go to bench/results/backup.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "backup.json"
DATABASE = "hearth_bench_backup"
SCRATCH = "/var/lib/hearth-bench-restore"
MB = 1_000_000


def host(container: str, command: str, check: bool = True) -> str:
    """Run a shell command in the host container and return its output."""
    result = subprocess.run(["docker", "exec", container, "bash", "-c", command],
                            text=True, capture_output=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{command!r} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout.strip()


def psql(container: str, sql: str, database: str = "postgres") -> str:
    return host(container, f"runuser -u postgres -- psql -XAtq -d {database} -c {json.dumps(sql)}")


def pgbackrest(container: str, args: str) -> str:
    return host(container, f"runuser -u postgres -- pgbackrest --stanza=main --log-level-console=warn {args}")


def repositories(container: str) -> list[dict[str, Any]]:
    settings = json.loads(host(container, "cat /etc/hearth/backup.json"))
    return settings["postgres"]["repos"]


def timed(run: Any) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def newest_full(container: str, repo: int) -> dict[str, Any]:
    info = json.loads(pgbackrest(container, f"--repo={repo} --output=json info"))
    fulls = [b for b in info[0]["backup"] if b["type"] == "full"]
    return max(fulls, key=lambda b: b["timestamp"]["stop"])


def restore_seconds(container: str, repo: int, version: str) -> float:
    """Restore the newest backup of one repository into scratch and wait until it answers."""
    bindir = f"/usr/lib/postgresql/{version}/bin"
    host(container, f"runuser -u postgres -- {bindir}/pg_ctl -D {SCRATCH}/pg -m immediate stop", check=False)
    host(container, f"rm -rf {SCRATCH} && mkdir -p {SCRATCH}/pg {SCRATCH}/sock && chown -R postgres {SCRATCH} && chmod 700 {SCRATCH}/pg")
    settings = psql(container, "select string_agg(name || ' = ' || setting, E'\\n') from pg_settings where name in "
                               "('max_connections', 'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions', "
                               "'max_locks_per_transaction')")
    start = time.perf_counter()
    pgbackrest(container, f"--repo={repo} --pg1-path={SCRATCH}/pg --archive-mode=off --type=immediate "
                          f"--target-action=promote restore")
    conf = (f"listen_addresses = ''\nport = 5498\nunix_socket_directories = '{SCRATCH}/sock'\n"
            f"archive_mode = off\n{settings}\n")
    host(container, f"printf %b {json.dumps(conf)} > {SCRATCH}/pg/postgresql.conf && "
                    f"echo 'local all postgres peer' > {SCRATCH}/pg/pg_hba.conf && chown postgres {SCRATCH}/pg/*.conf")
    host(container, f"runuser -u postgres -- {bindir}/pg_ctl -D {SCRATCH}/pg -l {SCRATCH}/sock/log -w -t 600 start")
    for _ in range(600):
        if host(container, f"runuser -u postgres -- psql -h {SCRATCH}/sock -p 5498 -XAtqc 'select pg_is_in_recovery()'",
                check=False) == "f":
            break
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    rows = host(container, f"runuser -u postgres -- psql -h {SCRATCH}/sock -p 5498 -d {DATABASE} -XAtqc "
                           "'select count(*) from pgbench_accounts'")
    host(container, f"runuser -u postgres -- {bindir}/pg_ctl -D {SCRATCH}/pg -m fast stop; rm -rf {SCRATCH}")
    if not rows.isdigit() or int(rows) == 0:
        raise RuntimeError(f"the restored copy has no pgbench_accounts rows: {rows!r}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--container", default="hearth-lab-1")
    parser.add_argument("--scale", type=int, default=64, help="pgbench scale (64 is about 1 GB)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    box = args.container
    repos = repositories(box)
    version = psql(box, "show server_version_num")[:2]

    psql(box, f"drop database if exists {DATABASE}")
    psql(box, f"create database {DATABASE}")
    load = timed(lambda: host(box, f"runuser -u postgres -- /usr/lib/postgresql/{version}/bin/pgbench -q -i "
                                   f"-s {args.scale} {DATABASE}"))
    cluster_bytes = int(psql(box, "select sum(pg_database_size(datname)) from pg_database"))
    print(f"loaded scale {args.scale} in {load:.1f} s; cluster {cluster_bytes / MB:.0f} MB", flush=True)

    samples: dict[str, list[float]] = {r["name"]: [] for r in repos}
    stored: dict[str, list[int]] = {r["name"]: [] for r in repos}
    for round_ in range(args.rounds):
        order = repos if round_ % 2 == 0 else list(reversed(repos))
        for repo in order:
            seconds = timed(lambda: pgbackrest(box, f"--repo={repo['index']} --type=full backup"))
            samples[repo["name"]].append(seconds)
            stored[repo["name"]].append(int(newest_full(box, repo["index"])["info"]["repository"]["delta"]))
            print(f"round {round_ + 1}: full backup to {repo['name']} in {seconds:.1f} s", flush=True)

    restores = {r["name"]: restore_seconds(box, r["index"], version) for r in repos}
    for name, seconds in restores.items():
        print(f"restore from {name}: {seconds:.1f} s until it answered", flush=True)

    ages = []
    for _ in range(5):
        ages.append(float(psql(box, "select extract(epoch from now() - last_archived_time) from pg_stat_archiver")))
        time.sleep(2)
    timeout = int(psql(box, "select setting from pg_settings where name = 'archive_timeout'"))
    psql(box, f"drop database {DATABASE}")

    first = repos[0]["name"]
    results: dict[str, Any] = {
        "cluster_mb": round(cluster_bytes / MB, 1),
        "pgbench_scale": args.scale,
        "load_seconds": round(load, 1),
        "rounds": args.rounds,
        "full_backup": {
            name: {
                "median_seconds": round(statistics.median(values), 2),
                "samples_seconds": [round(v, 2) for v in values],
                "mb_per_second": round(cluster_bytes / MB / statistics.median(values), 1),
                "stored_mb_median": round(statistics.median(stored[name]) / MB, 1),
            } for name, values in samples.items()
        },
        "full_backup_ratio_to_" + first: {
            name: round(statistics.median(values) / statistics.median(samples[first]), 2)
            for name, values in samples.items()
        },
        "restore_seconds": {name: round(value, 1) for name, value in restores.items()},
        "rpo": {"archive_timeout_seconds": timeout, "observed_age_seconds_median": round(statistics.median(ages), 1),
                "observed_age_seconds_max": round(max(ages), 1)},
        "environment": {"container": box, "cpus": host(box, "nproc"), "python": platform.python_version(),
                        "pgbackrest": host(box, "pgbackrest version"),
                        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
