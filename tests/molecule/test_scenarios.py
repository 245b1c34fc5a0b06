"""Run every molecule scenario: converge, idempotence, check mode, verify.

Molecule's own idempotence step fails on any change; check mode has no such gate, so this
wrapper reads the recap of the check step and fails unless it reports changed=0 everywhere.
Runs are serialised with a lock file: two at once starve a small machine.
"""
from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP = re.compile(r"^\s*\S+\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def check_step_changes(log: str) -> list[int]:
    """Return the changed= counts of the recaps printed by molecule's check step."""
    start = log.find("> check] Executing")
    if start < 0:
        return []
    end = log.find("] Executed", start)
    section = log[start:end if end > 0 else None]
    return [int(m.group(1)) for m in RECAP.finditer(section)]


def run_scenario(name: str) -> str:
    # One unbuffered stream keeps molecule's step markers next to the ansible output they frame.
    env = dict(os.environ, NO_COLOR="1", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0",
               PYTHONUNBUFFERED="1")
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    lock_path = ROOT / ".cache" / "molecule.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(
            [sys.executable, "-m", "molecule", "test", "-s", name],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
        )
    log = ANSI.sub("", proc.stdout)
    logs = ROOT / ".cache" / "molecule-logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"{name}.log").write_text(log)
    assert proc.returncode == 0, f"molecule test -s {name} failed; log: {logs / (name + '.log')}\n{log[-6000:]}"
    return log


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario: str) -> None:
    log = run_scenario(scenario)
    changes = check_step_changes(log)
    assert changes, f"{scenario}: the check step printed no recap"
    assert all(c == 0 for c in changes), f"{scenario}: check mode after converge reported changes: {changes}"


def test_check_step_parser_reads_only_the_check_recap() -> None:
    log = (
        "[s > converge] Executing\nhost : ok=9 changed=4 unreachable=0 failed=0\n[s > converge] Executed\n"
        "[s > check] Executing\nhost : ok=9 changed=1 unreachable=0 failed=0\n[s > check] Executed\n"
    )
    assert check_step_changes(log) == [1]
    assert check_step_changes("no check here") == []
