#!/usr/bin/python3
# Managed by Hearth (roles/backup); edits here are overwritten.
"""Run the host's scheduled backups and record each outcome for node_exporter.

`hearth-backup postgres` backs up the Postgres cluster to every pgBackRest repository in turn:
a full backup when the repository has none newer than `full_every_days`, else a differential.
`hearth-backup redis` snapshots Redis (BGSAVE), records the key counts with the number of
writes since the snapshot (the counts' margin), and copies the RDB file and a manifest to every
copy target with rclone.
`hearth-backup minio` mirrors the application buckets to the off-site targets with rclone.
One target failing (an off-site store down) does not stop the others; the command exits
non-zero when any failed, so systemd marks the run failed and the journal holds the error.

Each repository gets its own `backup` label (`postgres-<repo>`) in
`<textfile_dir>/hearth_backup_<label>.prom`, written to a temporary file and renamed, with the
contract the monitoring rules read: last success and failure times, duration, size, schedule.
A failure keeps the previous success time, so the age alert keeps counting from it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CONFIG = Path("/etc/hearth/backup.json")
# The contract's metrics and what each means (docs/monitoring.md).
METRICS = (
    ("last_success_timestamp_seconds", "Time of the last successful run."),
    ("last_failure_timestamp_seconds", "Time of the last failed run."),
    ("last_duration_seconds", "How long the last successful run took."),
    ("last_size_bytes", "What the last successful run stored in the repository."),
    ("schedule_seconds", "The interval between two scheduled runs."),
)
SAMPLE = re.compile(r'^hearth_backup_(\w+)\{backup="([^"]+)"\} (\S+)$')
ELAPSE = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})")


def log(message: str) -> None:
    """Print to the journal (stdout of a systemd service)."""
    print(message, flush=True)


def read_metrics(text: str, label: str) -> dict[str, float]:
    """The samples of one backup label from an earlier textfile."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        match = SAMPLE.match(line.strip())
        if match and match.group(2) == label:
            values[match.group(1)] = float(match.group(3))
    return values


def merge_outcome(previous: dict[str, float], *, ok: bool, now: float, duration: float,
                  size: float | None, schedule: float) -> dict[str, float]:
    """New values for a label: a success updates time, duration and size; a failure only its time."""
    values = dict(previous)
    values["schedule_seconds"] = schedule
    if ok:
        values["last_success_timestamp_seconds"] = now
        values["last_duration_seconds"] = duration
        if size is not None:
            values["last_size_bytes"] = size
    else:
        values["last_failure_timestamp_seconds"] = now
    return values


def render_metrics(label: str, values: dict[str, float]) -> str:
    """Prometheus text exposition for one label; metrics never set are left out.

    Samples only, no HELP or TYPE lines: node_exporter merges every textfile, and it refuses a
    metric family whose help text differs between two files (another job writing the same
    family without help would make both disappear).
    """
    lines = [f'hearth_backup_{name}{{backup="{label}"}} {values[name]:.0f}'
             for name, _meaning in METRICS if name in values]
    return "\n".join(lines) + "\n"


def write_outcome(textfile_dir: str, label: str, **outcome: Any) -> None:
    """Merge one run's outcome into the label's textfile, atomically."""
    path = Path(textfile_dir) / f"hearth_backup_{label}.prom"
    previous = read_metrics(path.read_text(), label) if path.exists() else {}
    tmp = path.with_suffix(".prom.tmp")
    tmp.write_text(render_metrics(label, merge_outcome(previous, **outcome)))
    tmp.chmod(0o644)
    os.replace(tmp, path)


def schedule_seconds(output: str, fallback: float = 86400.0) -> float:
    """The interval between the first two elapses `systemd-analyze calendar --iterations=2` printed.

    Times are taken from the UTC lines when systemd printed them (a local zone is not UTC),
    else from the elapse lines themselves.
    """
    utc = [ELAPSE.search(line) for line in output.splitlines() if "(in UTC)" in line]
    lines = utc if any(utc) else [ELAPSE.search(line) for line in output.splitlines()
                                   if "Next elapse" in line or "Iteration #" in line]
    stamps = [time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) for m in lines if m]
    if len(stamps) < 2 or stamps[1] <= stamps[0]:
        return fallback
    return stamps[1] - stamps[0]


def choose_type(info: list[dict[str, Any]], now: float, full_every_days: float) -> str:
    """`full` when the repository has no full backup newer than full_every_days, else `diff`."""
    fulls = [b["timestamp"]["stop"] for stanza in info for b in stanza.get("backup", [])
             if b.get("type") == "full" and not b.get("error", False)]
    if not fulls or now - max(fulls) >= full_every_days * 86400:
        return "full"
    return "diff"


def newest_backup_size(info: list[dict[str, Any]]) -> float | None:
    """Bytes the newest backup added to the repository (its repository delta)."""
    backups = [b for stanza in info for b in stanza.get("backup", [])]
    if not backups:
        return None
    newest = max(backups, key=lambda b: b["timestamp"]["stop"])
    return float(newest.get("info", {}).get("repository", {}).get("delta", 0))


def pgbackrest(args: list[str], user: str) -> subprocess.CompletedProcess[str]:
    """Run pgbackrest as the cluster's owner; its log lines go to the journal."""
    return subprocess.run(["runuser", "-u", user, "--", "pgbackrest", *args],
                          text=True, capture_output=True, check=False)


def repo_info(stanza: str, repo: int, user: str) -> list[dict[str, Any]]:
    result = pgbackrest([f"--stanza={stanza}", f"--repo={repo}", "--output=json", "info"], user)
    if result.returncode != 0:
        return []
    return json.loads(result.stdout or "[]")


def backup_postgres(config: dict[str, Any], only: str | None) -> int:
    """Back up to each repository in turn; the exit status counts the failures."""
    postgres = config["postgres"]
    stanza, user = postgres["stanza"], postgres["user"]
    schedule = schedule_seconds(calendar_output(postgres["calendar"]))
    failures = 0
    for repo in postgres["repos"]:
        if only and repo["name"] != only:
            continue
        label = f"postgres-{repo['name']}"
        kind = choose_type(repo_info(stanza, repo["index"], user), time.time(), postgres["full_every_days"])
        log(f"{label}: starting a {kind} backup to repository {repo['index']} ({repo['name']})")
        started = time.monotonic()
        result = pgbackrest([f"--stanza={stanza}", f"--repo={repo['index']}", f"--type={kind}",
                             "--log-level-console=warn", "--log-level-stderr=error", "backup"], user)
        duration = time.monotonic() - started
        ok = result.returncode == 0
        size = newest_backup_size(repo_info(stanza, repo["index"], user)) if ok else None
        for line in (result.stdout + result.stderr).splitlines():
            log(f"{label}: {line}")
        if ok:
            log(f"{label}: {kind} backup finished in {duration:.1f} s, {size or 0:.0f} bytes stored")
        else:
            failures += 1
            log(f"{label}: FAILED with exit status {result.returncode} after {duration:.1f} s")
        write_outcome(config["textfile_dir"], label, ok=ok, now=time.time(), duration=duration,
                      size=size, schedule=schedule)
    return failures


KEYSPACE = re.compile(r"^db(\d+):keys=(\d+)", re.M)


def parse_keyspace(info: str) -> dict[str, int]:
    """Key counts per database from INFO keyspace (databases without keys are absent)."""
    return {db: int(keys) for db, keys in KEYSPACE.findall(info)}


def info_field(info: str, name: str) -> str:
    match = re.search(rf"^{re.escape(name)}:(\S*)", info, re.M)
    return match.group(1) if match else ""


def rclone(args: list[str], config: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Run rclone with the copy targets' configuration (keys stay in that root-only file)."""
    return subprocess.run(["rclone", "--config", config["copies"]["rclone_config"], "--retries", "2",
                           "--low-level-retries", "3", "--contimeout", "10s", "--timeout", "60s", *args],
                          text=True, capture_output=True, check=False)


def target_url(target: dict[str, Any], *parts: str) -> str:
    """rclone's address of a path in a target's bucket (the rclone store carries its name)."""
    return f"{target['name']}:{'/'.join([target['bucket'], *[p.strip('/') for p in parts]])}"


def redis_snapshot(redis: dict[str, Any], staging: Path) -> tuple[Path, dict[str, Any]]:
    """BGSAVE with the key counts of the same instant (one MULTI/EXEC), then copy the RDB aside."""
    env = {**os.environ, "REDISCLI_AUTH": Path(redis["password_file"]).read_text().strip()}
    cli = ["redis-cli", "--no-auth-warning", "-h", "127.0.0.1", "-p", str(redis["port"]), "--user", redis["user"]]

    def ask(*command: str, stdin: str | None = None) -> str:
        result = subprocess.run(cli + list(command), input=stdin, env=env, text=True,
                                capture_output=True, check=False, timeout=60)
        if result.returncode != 0 or result.stdout.startswith(("ERR", "NOAUTH", "WRONGPASS", "NOPERM")):
            raise RuntimeError(f"redis-cli {' '.join(command) or '(pipe)'}: {result.stdout}{result.stderr}".strip())
        return result.stdout

    deadline = time.monotonic() + redis.get("timeout", 600)
    while True:
        persistence = ask("INFO", "persistence")
        if info_field(persistence, "rdb_bgsave_in_progress") == "0" and info_field(persistence, "aof_rewrite_in_progress") == "0":
            break
        if time.monotonic() > deadline:
            raise RuntimeError("Redis stayed busy with another save or rewrite")
        time.sleep(1)
    saves_before = info_field(persistence, "rdb_saves")
    asked_at = int(time.time())
    reply = ask("BGSAVE")
    if "Background saving started" not in reply:
        raise RuntimeError(f"BGSAVE was refused: {reply.strip()}")
    while True:
        persistence = ask("INFO", "persistence")
        saved = (int(info_field(persistence, "rdb_saves") or 0) > int(saves_before) if saves_before
                 else int(info_field(persistence, "rdb_last_save_time") or 0) >= asked_at)
        if info_field(persistence, "rdb_bgsave_in_progress") == "0" and saved:
            break
        if info_field(persistence, "rdb_bgsave_in_progress") == "0" and info_field(persistence, "rdb_last_bgsave_status") != "ok":
            raise RuntimeError("Redis reported the snapshot failed (rdb_last_bgsave_status)")
        if time.monotonic() > deadline:
            raise RuntimeError("the snapshot did not finish in time")
        time.sleep(0.2)
    # The key counts now and the writes since the snapshot's fork, read in one transaction: the
    # snapshot's counts lie within that many of these (exact when nothing was written).
    reply = ask(stdin="MULTI\nINFO keyspace\nINFO persistence\nEXEC\n")
    keys = parse_keyspace(reply)
    changes = int(info_field(reply, "rdb_changes_since_last_save") or 0)
    directory = ask("CONFIG", "GET", "dir").splitlines()[1]
    filename = ask("CONFIG", "GET", "dbfilename").splitlines()[1]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    staging.mkdir(parents=True, exist_ok=True)
    for old in staging.glob("*"):
        old.unlink()
    copy = staging / f"{stamp}.rdb"
    shutil.copyfile(Path(directory) / filename, copy)
    copy.chmod(0o600)
    manifest = {"created": stamp, "keys": keys, "changes_since_snapshot": changes, "bytes": copy.stat().st_size,
                "sha256": hashlib.sha256(copy.read_bytes()).hexdigest()}
    return copy, manifest


def backup_redis(config: dict[str, Any], only: str | None) -> int:
    """Snapshot once, copy to each target in turn, prune copies older than keep_days."""
    redis = config["redis"]
    schedule = schedule_seconds(calendar_output(redis["calendar"]))
    targets = [t for t in config["copies"]["targets"] if not only or t["name"] == only]
    started = time.monotonic()
    try:
        rdb, manifest = redis_snapshot(redis, Path(redis["staging"]))
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        log(f"redis: FAILED to take a snapshot: {error}")
        for target in targets:
            write_outcome(config["textfile_dir"], f"redis-{target['name']}", ok=False, now=time.time(),
                          duration=time.monotonic() - started, size=None, schedule=schedule)
        return len(targets)
    log(f"redis: snapshot {rdb.name}, {manifest['bytes']} bytes, keys {manifest['keys']}")
    manifest_file = rdb.with_suffix(".json")
    manifest_file.write_text(json.dumps(manifest, indent=2) + "\n")
    failures = 0
    for target in targets:
        label = f"redis-{target['name']}"
        begin = time.monotonic()
        steps = [["copyto", str(rdb), target_url(target, "redis", config["host"], rdb.name)],
                 ["copyto", str(manifest_file), target_url(target, "redis", config["host"], manifest_file.name)],
                 ["delete", "--min-age", f"{redis['keep_days']}d", target_url(target, "redis", config["host"])]]
        ok = True
        for step in steps:
            result = rclone(step, config)
            if result.returncode != 0:
                ok = False
                log(f"{label}: FAILED: rclone {step[0]}: {result.stderr.strip()[-2000:]}")
                break
        duration = time.monotonic() - begin
        if ok:
            log(f"{label}: copied {rdb.name} in {duration:.1f} s")
        failures += 0 if ok else 1
        write_outcome(config["textfile_dir"], label, ok=ok, now=time.time(), duration=duration,
                      size=float(manifest["bytes"]) if ok else None, schedule=schedule)
    return failures


def mirror_minio(config: dict[str, Any], only: str | None) -> int:
    """Mirror each application bucket to each off-site target (only what changed is copied)."""
    minio = config["minio"]
    schedule = schedule_seconds(calendar_output(minio["calendar"]))
    failures = 0
    for target in config["copies"]["targets"]:
        if not target.get("offsite") or (only and target["name"] != only):
            continue
        label = f"minio-{target['name']}"
        begin = time.monotonic()
        ok = True
        for bucket in minio["buckets"]:
            result = rclone(["sync", f"{minio['remote']}:{bucket}", target_url(target, "minio", bucket),
                             "--fast-list", "--metadata"], config)
            if result.returncode != 0:
                ok = False
                log(f"{label}: FAILED on bucket {bucket}: {result.stderr.strip()[-2000:]}")
        size = None
        if ok:
            listing = rclone(["size", "--json", target_url(target, "minio")], config)
            size = float(json.loads(listing.stdout or "{}").get("bytes", 0)) if listing.returncode == 0 else None
        duration = time.monotonic() - begin
        if ok:
            log(f"{label}: mirrored {len(minio['buckets'])} bucket(s) in {duration:.1f} s, {size or 0:.0f} bytes off-site")
        failures += 0 if ok else 1
        write_outcome(config["textfile_dir"], label, ok=ok, now=time.time(), duration=duration,
                      size=size, schedule=schedule)
    return failures


def calendar_output(calendar: str) -> str:
    return subprocess.run(["systemd-analyze", "calendar", "--iterations=2", calendar],
                          text=True, capture_output=True, check=False).stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["postgres", "redis", "minio"])
    parser.add_argument("--repo", help="only this repository or copy target (its name)")
    parser.add_argument("--config", type=Path, default=CONFIG)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    jobs = {"postgres": backup_postgres, "redis": backup_redis, "minio": mirror_minio}
    failures = jobs[args.what](config, args.repo)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
