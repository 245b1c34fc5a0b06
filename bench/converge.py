#!/usr/bin/env python3
"""Converge benchmark: how long the lab takes to converge from scratch and to re-run unchanged.

Records the wall time of the first converge of site.yml on fresh lab hosts, the median of a few
no-change re-runs, and tasks per second for each, in bench/results/converge.json; with them, per
run, the seconds spent in each role and the ten slowest tasks that changed nothing (what a re-run
spends its time on). The same number of no-change re-runs with Mitogen's strategy (opt-in for
users) alternate with the default ones, and the speed-up is the ratio of the two medians. Each
converge goes through scripts/converge.py, which reads ansible-runner's events. Re-creating the lab destroys its data, so the benchmark refuses to start while lab hosts
exist unless --recreate.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _load_runner() -> ModuleType:
    """scripts/converge.py as a module (both files are called converge, so it is loaded by path)."""
    spec = importlib.util.spec_from_file_location("hearth_converge_runner", ROOT / "scripts" / "converge.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


runner = _load_runner()


def run_record(summary: Any) -> dict[str, Any]:
    """One converge's entry in the results: the recap counters and rate, then where time went.

    Keeps the fields earlier results have (seconds, ok, changed, failed, skipped, unreachable,
    tasks, tasks_per_second) so results stay comparable across versions.
    """
    totals = summary.totals
    seconds = round(summary.wall_seconds, 2)
    return {
        "seconds": seconds,
        **{name: totals[name] for name in ("ok", "changed", "failed", "skipped", "unreachable", "tasks")},
        "tasks_per_second": round(totals["tasks"] / seconds, 2) if seconds else 0.0,
        "changed_per_host": summary.changed_per_host,
        "role_seconds": summary.role_seconds,
        "slowest_unchanged_tasks": [t.to_json() for t in summary.slowest_unchanged],
    }


def median_role_seconds(records: list[dict[str, Any]]) -> dict[str, float]:
    """Per role, the median of its seconds over several runs (0 where a run lacks the role)."""
    roles = {role for record in records for role in record["role_seconds"]}
    medians = {role: round(statistics.median(r["role_seconds"].get(role, 0.0) for r in records), 2) for role in roles}
    return dict(sorted(medians.items(), key=lambda kv: (-kv[1], kv[0])))


def converge(env: dict[str, str]) -> dict[str, Any]:
    """Converge site.yml on the lab once and return its record; stop the benchmark if it fails."""
    summary = runner.run_converge("inventories/lab", quiet=True, environ=env)
    if summary.failed:
        stdout = Path(summary.artifact_dir) / "stdout"
        sys.stderr.write(stdout.read_text(errors="replace")[-6000:] if stdout.is_file() else "")
        sys.stderr.write(runner.format_summary(summary) + "\n")
        raise SystemExit(f"converge failed (rc={summary.rc})")
    return run_record(summary)


def median_run(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose wall time is the (lower) median of several."""
    ordered = sorted(records, key=lambda r: r["seconds"])
    return ordered[(len(ordered) - 1) // 2]


def mitogen_record(default: list[dict[str, Any]], mitogen: list[dict[str, Any]]) -> dict[str, Any]:
    """The Mitogen side of the A/B: its re-runs, their medians, and the speed-up over the default.

    The per-task cost is wall time over tasks run, so both sides are compared on the same work.
    """
    default_median = statistics.median(r["seconds"] for r in default)
    mitogen_median = statistics.median(r["seconds"] for r in mitogen)
    return {
        "mitogen_no_change_reruns": mitogen,
        "mitogen_no_change_median_seconds": mitogen_median,
        "mitogen_reruns_changed": [r["changed"] for r in mitogen],
        "no_change_seconds_per_task": round(default_median / statistics.median(r["tasks"] for r in default), 3),
        "mitogen_no_change_seconds_per_task": round(mitogen_median / statistics.median(r["tasks"] for r in mitogen), 3),
        "mitogen_speedup": round(default_median / mitogen_median, 2) if mitogen_median else 0.0,
        "mitogen_no_change_slowest_tasks": median_run(mitogen)["slowest_unchanged_tasks"],
    }


def lab_hosts_exist() -> bool:
    """Whether any lab container exists (running or not); the benchmark would destroy it."""
    out = subprocess.run(["docker", "ps", "-aq", "--filter", "label=hearth.lab=1"],
                         capture_output=True, text=True, check=True).stdout
    return bool(out.strip())


def main() -> int:
    """Recreate the lab hosts, converge once, re-run unchanged, and write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reruns", type=int, default=3, help="no-change re-runs (median reported)")
    parser.add_argument("--recreate", action="store_true", help="destroy existing lab hosts first")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "converge.json")
    parser.add_argument("--reuse", action="store_true",
                        help="re-run on the lab as it is (converged already): no first converge is measured")
    parser.add_argument("--no-mitogen", action="store_true",
                        help="skip the side-by-side no-change re-runs with Mitogen's strategy")
    args = parser.parse_args()

    if args.reuse and not lab_hosts_exist():
        print("--reuse needs a converged lab (make lab)")
        return 2
    if lab_hosts_exist() and not (args.recreate or args.reuse):
        print("lab hosts exist and hold data; run with --recreate (make bench RECREATE=1) to destroy them, "
              "or --reuse to measure re-runs on them as they are")
        return 2
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{env['PATH']}"
    if args.reuse:
        # The lab is converged already: every measured run is a no-change run (reruns_changed shows it).
        first = None
    else:
        subprocess.run(["scripts/lab.sh", "down"], cwd=ROOT, env=env, check=True)
        subprocess.run(["scripts/lab.sh", "hosts"], cwd=ROOT, env=env, check=True)
        first = converge(env)
    # Default and Mitogen re-runs alternate, so both see the same machine at the same time.
    mitogen_env = {**env, **runner.mitogen_environ()} if not args.no_mitogen else None
    reruns: list[dict[str, Any]] = []
    mitogen_reruns: list[dict[str, Any]] = []
    for _ in range(args.reruns):
        reruns.append(converge(env))
        if mitogen_env is not None:
            mitogen_reruns.append(converge(mitogen_env))
    result = {
        "benchmark": "lab converge of site.yml",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "first_converge": first,
        "no_change_reruns": reruns,
        "no_change_median_seconds": statistics.median(r["seconds"] for r in reruns),
        "no_change_median_tasks_per_second": statistics.median(r["tasks_per_second"] for r in reruns),
        "first_to_rerun_ratio": (round(first["seconds"] / statistics.median(r["seconds"] for r in reruns), 2)
                                 if first else None),
        "reruns_changed": [r["changed"] for r in reruns],
        "no_change_role_seconds": median_role_seconds(reruns),
        "no_change_slowest_tasks": median_run(reruns)["slowest_unchanged_tasks"],
    }
    if mitogen_reruns:
        result.update(mitogen_record(reruns, mitogen_reruns))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
