#!/usr/bin/env python3
"""Releases across two apps hosts behind one Caddy, checked on the lab with a second apps host.

`make lab-multihost` adds hearth-lab-2 (the team's services only; tests/apps/multihost/hosts.yml)
to the lab, converges site.yml over both hosts, then runs this. One client on a kept HTTPS
connection through Caddy (127.0.0.1:8443) sends requests during every step, and each step fails
this script, with what it saw, unless it holds:

1. deploy v2: both hosts end on v2's digest, hearth-lab-1 first and hearth-lab-2 after it
   (serial), containers on both hosts answered, no request failed;
2. hearth-lab-2's web container stops for 15 s: Caddy's active health check routes around it,
   no request fails, and once it runs again both hosts answer;
3. deploy v3, whose health check never passes: the run fails naming the release, hearth-lab-2 is
   never touched (the deploy stops at the first failed host), both stay on v2, no request fails;
4. rollback.yml: both hosts back on v1's digest, no request failed;
5. the scheduler (Celery beat) never ran twice at once across the hosts.

Seconds per step and the client's numbers go to bench/results/deploy_multihost.json.

    .venv/bin/python tests/apps/multihost.py
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = "tests/apps/multihost"
HOSTS = ("hearth-lab-1", "hearth-lab-2")
RESULTS = ROOT / "bench" / "results" / "deploy_multihost.json"
_SPEC = importlib.util.spec_from_file_location("bench_deploy", ROOT / "bench" / "deploy.py")
assert _SPEC and _SPEC.loader
bench = importlib.util.module_from_spec(_SPEC)  # the deploy benchmark's client and playbook runner
_SPEC.loader.exec_module(bench)


class CheckFailed(Exception):
    """A step did not hold; the message says what was seen."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def on_host(host: str, *command: str) -> str:
    """Run a command inside a lab host and return its output."""
    return subprocess.run(["docker", "exec", host, *command], capture_output=True, text=True, check=True).stdout


def release(host: str) -> dict[str, Any]:
    """The web service's current release as the host recorded it (digest, slot, time)."""
    return json.loads(on_host(host, "cat", "/var/lib/hearth/apps/web.json"))["current"]


def releases() -> dict[str, dict[str, Any]]:
    """Each lab host's current web release."""
    return {host: release(host) for host in HOSTS}


def web_ids(host: str) -> list[str]:
    """IDs of the web containers running on a host."""
    return on_host(host, "docker", "ps", "-q", "--filter", "label=hearth.app=web").split()


def web_names(host: str) -> set[str]:
    """Hostnames of the web containers running on a host: the app answers with its hostname."""
    ids = web_ids(host)
    if not ids:
        return set()
    return set(on_host(host, "docker", "inspect", "--format", "{{.Config.Hostname}}", *ids).split())


def hosts_that_answered(load: dict[str, Any], names: dict[str, set[str]]) -> set[str]:
    """Which lab hosts served the client, from the app's hostnames the client counted."""
    served = set(load.get("served_by", {}))
    return {host for host, known in names.items() if served & known}


def no_failed_requests(step: str, load: dict[str, Any]) -> None:
    expect(load["failed"] == 0, f"{step}: {load['failed']} of {load['requests']} requests failed: {load['failures']}")
    expect(load["requests"] > 0, f"{step}: the client sent no request")


def main() -> int:
    os.environ["HEARTH_CONNECT"] = "127.0.0.1:8443"
    os.environ["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    names = {host: web_names(host) for host in HOSTS}
    start = releases()
    expect(len({r["image"] for r in start.values()}) == 1 and all(names.values()),
           f"both hosts must run the same web release first (make lab-multihost): {start}, {names}")
    v1 = start[HOSTS[0]]["image"]
    result: dict[str, Any] = {"hosts": list(HOSTS), "kamal_defaults": bench.KAMAL}

    def seen() -> None:
        for host in HOSTS:
            names[host] |= web_names(host)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)

        with bench.Load(tmp, "deploy_v2") as load:
            rc, seconds, output = bench.playbook("deploy.yml", "-e", "refapp_version=2", inventory=INVENTORY)
            seen()
        after = releases()
        result["deploy_v2"] = {"rc": rc, "seconds": seconds, "releases": after, "load": load.report()}
        expect(rc == 0, f"deploy v2 failed:\n{output[-3000:]}")
        expect(after[HOSTS[0]]["image"] == after[HOSTS[1]]["image"] != v1, f"deploy v2 left {after}")
        expect(after[HOSTS[0]]["deployed_at"] <= after[HOSTS[1]]["deployed_at"],
               f"hearth-lab-2 was released before hearth-lab-1: {after}")
        no_failed_requests("deploy v2", load.report())
        expect(hosts_that_answered(load.report(), names) == set(HOSTS),
               f"deploy v2: not both hosts answered: {load.report()['served_by']} against {names}")
        v2 = after[HOSTS[0]]["image"]

        web = web_ids(HOSTS[1])
        with bench.Load(tmp, "host_down") as load:
            begin = time.monotonic()
            on_host(HOSTS[1], "docker", "stop", "--time", "1", *web)
            time.sleep(15)
            on_host(HOSTS[1], "docker", "start", *web)
            time.sleep(8)  # active health checks every few seconds bring it back
        result["host_down"] = {"seconds": round(time.monotonic() - begin, 1), "load": load.report()}
        no_failed_requests("one host's web stopped", load.report())
        with bench.Load(tmp, "host_back") as load:
            time.sleep(6)
        expect(hosts_that_answered(load.report(), names) == set(HOSTS),
               f"after hearth-lab-2's web started again, not both hosts answered: {load.report()['served_by']}")

        with bench.Load(tmp, "failed_v3") as load:
            rc, seconds, output = bench.playbook("deploy.yml", "-e", "refapp_version=3", inventory=INVENTORY)
        after = releases()
        result["failed_v3"] = {"rc": rc, "seconds": seconds, "releases": after, "load": load.report()}
        expect(rc != 0, "deploy v3, whose health check never passes, succeeded")
        expect("never became healthy" in output, f"deploy v3 failed without naming the release:\n{output[-3000:]}")
        expect(HOSTS[1] not in output, "deploy v3 went on to hearth-lab-2 after hearth-lab-1 failed")
        expect(all(r["image"] == v2 for r in after.values()), f"deploy v3 moved a host off v2: {after}")
        no_failed_requests("deploy v3", load.report())

        with bench.Load(tmp, "rollback") as load:
            rc, seconds, output = bench.playbook("rollback.yml", inventory=INVENTORY)
            seen()
        after = releases()
        result["rollback"] = {"rc": rc, "seconds": seconds, "releases": after, "load": load.report()}
        expect(rc == 0, f"rollback failed:\n{output[-3000:]}")
        expect(all(r["image"] == v1 for r in after.values()), f"rollback did not return both hosts to v1: {after}")
        no_failed_requests("rollback", load.report())

    status, beat = bench.apps_check.Client(bench.URL, str(bench.CA)).request("GET", "/beat")
    result["beat"] = beat
    expect(status == 200 and not beat.get("overlap") and beat.get("count", 0) > 0,
           f"the scheduler ran twice at once, or never: {beat}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: (v.get("rc"), v.get("seconds"), v["load"]["failed"], v["load"]["p99_ms"])
               for k, v in result.items() if isinstance(v, dict) and "load" in v}
    print(json.dumps({"step: (rc, seconds, failed, p99_ms)": summary, "beat_ids": beat.get("beat_ids")}, indent=1))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckFailed as failure:
        print(f"multi-host check failed: {failure}", file=sys.stderr)
        sys.exit(1)
