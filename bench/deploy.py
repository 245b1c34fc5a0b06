#!/usr/bin/env python3
"""Releases of the reference application on the lab: time per service kind, requests during them.

On a lab that `make lab` converged (the reference application at version 1), in one run:

1. steady state: a client on one kept HTTPS connection through Caddy (127.0.0.1:8443, the lab's
   published port, SNI app.lab.hearth.test) for --steady seconds: p50/p99 latency;
2. `playbooks/deploy.yml -e refapp_version=2` while the same client runs: wall time, the time of
   each release step (from the profile_tasks callback), failed requests (must be 0), p50/p99;
3. a release whose health check fails (version 3): seconds until the run fails, failed requests;
4. `playbooks/rollback.yml` under load: wall time, failed requests;
5. back to version 1 so the lab is as it was.

Results go to bench/results/deploy.json. Every load loop is bounded (40 000 requests, 300 s).

    .venv/bin/python bench/deploy.py [--steady 15]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "deploy.json"
_SPEC = importlib.util.spec_from_file_location("apps_check", ROOT / "tests" / "apps" / "apps_check.py")
assert _SPEC and _SPEC.loader
apps_check = importlib.util.module_from_spec(_SPEC)  # the client checks the tests use
_SPEC.loader.exec_module(apps_check)

URL = "https://app.lab.hearth.test"
CA = ROOT / ".cache" / "lab-ca" / "hearth-lab-1-root.crt"
STEP = re.compile(r"^apps : (.+?) -+ ([0-9.]+)s$", re.M)
# Kamal's defaults, for comparison (kamal-proxy deploy: health poll, deploy timeout, drain).
KAMAL = {"health_interval_s": 1, "deploy_timeout_s": 30, "drain_timeout_s": 30}


class Load:
    """The tests' client in a thread, writing its report when the stop file appears."""

    def __init__(self, tmp: Path, name: str) -> None:
        self.out, self.stop = tmp / f"{name}.json", tmp / f"{name}.stop"
        self.thread = threading.Thread(target=apps_check.load, args=(URL, str(CA), str(self.out), str(self.stop)))

    def __enter__(self) -> "Load":
        self.thread.start()
        time.sleep(1)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.touch()
        self.thread.join(timeout=60)

    def report(self) -> dict[str, Any]:
        return json.loads(self.out.read_text())


def playbook(name: str, *extra: str, inventory: str = "inventories/lab") -> tuple[int, float, str]:
    """Run playbooks/NAME against the lab: return code, wall seconds, and its output."""
    env = {**os.environ, "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
           "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all", "ANSIBLE_FORCE_COLOR": "0"}
    begin = time.monotonic()
    proc = subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", inventory, f"playbooks/{name}", *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    return proc.returncode, round(time.monotonic() - begin, 1), proc.stdout + proc.stderr


def steps(output: str) -> dict[str, float]:
    """Seconds of the apps role's release tasks, by task name (service names are in them)."""
    return {name: float(seconds) for name, seconds in STEP.findall(output)
            if re.search(r"release|Roll |job |Caddy|image of", name)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steady", type=float, default=15.0)
    args = parser.parse_args()
    os.environ["HEARTH_CONNECT"] = "127.0.0.1:8443"
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                              "kamal_defaults": KAMAL}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with Load(tmp, "steady") as load:
            time.sleep(args.steady)
        result["steady"] = load.report()
        for label, book, extra in (("deploy_v2", "deploy.yml", ["-e", "refapp_version=2"]),
                                   ("failed_v3", "deploy.yml", ["-e", "refapp_version=3"]),
                                   ("rollback", "rollback.yml", []),
                                   ("restore_v1", "deploy.yml", ["-e", "refapp_version=1"])):
            with Load(tmp, label) as load:
                rc, seconds, output = playbook(book, *extra)
            result[label] = {"rc": rc, "seconds": seconds, "steps": steps(output), "load": load.report()}
            print(f"{label}: rc {rc}, {seconds}s, failed requests {result[label]['load']['failed']}", file=sys.stderr)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: (v.get("seconds"), v.get("load", v).get("failed"), v.get("load", v).get("p99_ms"))
                      for k, v in result.items() if isinstance(v, dict) and k != "machine"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
