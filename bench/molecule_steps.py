#!/usr/bin/env python3
"""Molecule's no-change steps with Ansible's own strategy against Mitogen's, side by side.

`make test` runs each scenario's idempotence and check steps under Mitogen's strategy
(tests/molecule/test_scenarios.py). This benchmark says what that buys: it converges one scenario
once, then in every round runs `molecule idempotence` and `molecule check` on the same converged
host with each strategy, the order alternating between rounds so both see the machine alike.
Every run must succeed (idempotence fails on any change). Results go to
bench/results/molecule_steps.json after every round: the seconds of each run, the medians per
step and strategy, and the ratio default/Mitogen. The scenario is destroyed at the end.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from converge import runner  # bench/converge.py, which loads scripts/converge.py

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "molecule_steps.json"
STEPS = ("idempotence", "check")
STRATEGIES = ("linear", "mitogen_linear")


def round_order(round_index: int) -> tuple[str, ...]:
    """The strategies in the order a round runs them: alternating, so neither always goes first."""
    return STRATEGIES if round_index % 2 == 0 else tuple(reversed(STRATEGIES))


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median seconds per step and strategy, and default/Mitogen ratios, from the recorded runs."""
    medians: dict[str, dict[str, float]] = {}
    for step in STEPS:
        medians[step] = {}
        for strategy in STRATEGIES:
            times = [r["seconds"] for r in runs if r["step"] == step and r["strategy"] == strategy]
            if times:
                medians[step][strategy] = round(statistics.median(times), 1)
    ratios = {step: round(m["linear"] / m["mitogen_linear"], 2)
              for step, m in medians.items() if "linear" in m and m.get("mitogen_linear")}
    return {"median_seconds": medians, "speedup_mitogen": ratios}


def molecule(command: str, scenario: str, env: dict[str, str], log: Path) -> tuple[int, float]:
    """Run one molecule command, appending its output to the log; return its rc and seconds."""
    start = time.monotonic()
    with log.open("a") as out:
        out.write(f"=== molecule {command} -s {scenario} (strategy {env.get('ANSIBLE_STRATEGY', 'linear')})\n")
        out.flush()
        rc = subprocess.run([sys.executable, "-m", "molecule", command, "-s", scenario], cwd=ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    return rc, round(time.monotonic() - start, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="caddy", help="molecule scenario to converge once (default caddy)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    base = dict(os.environ, NO_COLOR="1", ANSIBLE_NOCOLOR="1", PY_COLORS="0")
    base["PATH"] = f"{Path(sys.executable).parent}:{base['PATH']}"
    envs = {"linear": runner.strategy_environ(base, None),
            "mitogen_linear": runner.strategy_environ(base, runner.mitogen_environ())}
    log = ROOT / ".cache" / "molecule-logs" / f"bench-{args.scenario}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    result: dict[str, Any] = {
        "scenario": args.scenario, "rounds": args.rounds, "runs": [],
        "environment": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "date": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    }
    lock_path = ROOT / ".cache" / "molecule.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            for command in ("destroy", "converge"):
                rc, seconds = molecule(command, args.scenario, envs["linear"], log)
                if rc != 0:
                    print(f"molecule {command} failed (rc {rc}); see {log}", file=sys.stderr)
                    return rc
                result[f"{command}_seconds"] = seconds
            for index in range(args.rounds):
                for strategy in round_order(index):
                    for step in STEPS:
                        rc, seconds = molecule(step, args.scenario, envs[strategy], log)
                        if rc != 0:
                            print(f"molecule {step} under {strategy} failed (rc {rc}); see {log}", file=sys.stderr)
                            return rc
                        result["runs"].append({"round": index, "strategy": strategy, "step": step, "seconds": seconds})
                        print(f"round {index} {strategy:15s} {step:12s} {seconds:6.1f} s", flush=True)
                result.update(summarise(result["runs"]))
                RESULTS.parent.mkdir(parents=True, exist_ok=True)
                RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        finally:
            molecule("destroy", args.scenario, envs["linear"], log)
    print(json.dumps({k: result[k] for k in ("median_seconds", "speedup_mitogen")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
