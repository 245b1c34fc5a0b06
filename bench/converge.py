#!/usr/bin/env python3
"""Converge benchmark: how long the lab takes to converge from scratch and to re-run unchanged.

Records the wall time of the first converge of site.yml on fresh lab hosts, the median of a few
no-change re-runs, and tasks per second for each, in bench/results/converge.json. Re-creating the
lab destroys its data, so the benchmark refuses to start while lab hosts exist unless --recreate.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)


def parse_recap(output: str) -> dict[str, int]:
    """Sum the PLAY RECAP counters over hosts; tasks = ok + failed + skipped (ok includes changed)."""
    totals = {"ok": 0, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 0}
    for _host, ok, changed, unreachable, failed, skipped in RECAP.findall(output):
        totals["ok"] += int(ok)
        totals["changed"] += int(changed)
        totals["unreachable"] += int(unreachable)
        totals["failed"] += int(failed)
        totals["skipped"] += int(skipped)
    totals["tasks"] = totals["ok"] + totals["failed"] + totals["skipped"]
    return totals


def converge(env: dict[str, str]) -> dict[str, float | int]:
    start = time.monotonic()
    proc = subprocess.run(
        ["ansible-playbook", "-i", "inventories/lab", "site.yml"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-2000:])
        raise SystemExit(f"converge failed (rc={proc.returncode})")
    recap = parse_recap(proc.stdout)
    return {"seconds": round(seconds, 2), **recap, "tasks_per_second": round(recap["tasks"] / seconds, 2)}


def lab_hosts_exist() -> bool:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", "label=hearth.lab=1"],
                         capture_output=True, text=True, check=True).stdout
    return bool(out.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reruns", type=int, default=3, help="no-change re-runs (median reported)")
    parser.add_argument("--recreate", action="store_true", help="destroy existing lab hosts first")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "converge.json")
    args = parser.parse_args()

    if lab_hosts_exist() and not args.recreate:
        print("lab hosts exist and hold data; run with --recreate (make bench RECREATE=1) to destroy them")
        return 2
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{env['PATH']}"
    subprocess.run(["scripts/lab.sh", "down"], cwd=ROOT, env=env, check=True)
    subprocess.run(["scripts/lab.sh", "hosts"], cwd=ROOT, env=env, check=True)

    first = converge(env)
    reruns = [converge(env) for _ in range(args.reruns)]
    result = {
        "benchmark": "lab converge of site.yml",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "first_converge": first,
        "no_change_reruns": reruns,
        "no_change_median_seconds": statistics.median(r["seconds"] for r in reruns),
        "no_change_median_tasks_per_second": statistics.median(r["tasks_per_second"] for r in reruns),
        "first_to_rerun_ratio": round(first["seconds"] / statistics.median(r["seconds"] for r in reruns), 2),
        "reruns_changed": [r["changed"] for r in reruns],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
