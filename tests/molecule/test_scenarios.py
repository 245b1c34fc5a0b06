"""Run every molecule scenario: converge, idempotence, check mode, verify.

Molecule's own idempotence step fails on any change; check mode has no such gate, so this
wrapper reads the recap of the check step and fails unless it reports changed=0 everywhere.
Runs are serialised with a lock file: two at once starve a small machine.

The steps run one molecule command at a time so that each can have its own environment. The
converge and verify steps (first runs, rolling deploys under load, everything a user's run does)
use Ansible's own strategy. The idempotence and check steps are no-change runs whose verdict is
the modules' own `changed`, which does not depend on how Ansible reaches the host, so they run
under Mitogen's strategy (about twice as fast; README "Faster runs"). HEARTH_TEST_MITOGEN=0 runs
them on Ansible's own strategy too.
"""
from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import pytest
from converge import runner  # bench/converge.py, which loads scripts/converge.py

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECAP = re.compile(r"^\s*\S+\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# Each molecule command and whether it is a no-change run that may use Mitogen. `converge` also
# creates and prepares the host (molecule's converge_sequence); `check` runs only the check step
# (check_sequence in .config/molecule/config.yml).
STEPS: tuple[tuple[str, bool], ...] = (
    ("destroy", False), ("converge", False), ("idempotence", True), ("check", True), ("verify", False),
)
CREATED = re.compile(r"^created:\s*true\s*$", re.M)


def host_names(name: str) -> list[str]:
    """The container names a scenario creates: its own platforms, else the shared config's one."""
    import yaml

    platforms = (yaml.safe_load((ROOT / "molecule" / name / "molecule.yml").read_text()) or {}).get("platforms")
    return [p["name"] for p in platforms] if platforms else [f"{name}-host"]


def left_behind(hosts: list[str], containers: list[str], states: list[str]) -> bool:
    """Whether an earlier run may have left this scenario's hosts: a container by one of their
    names exists, or a molecule state file still says created (molecule would then skip create).
    Only then is the first destroy worth its ten seconds."""
    return bool(set(hosts) & set(containers)) or any(CREATED.search(text) for text in states)


def first_destroy_needed(name: str) -> bool:
    """Ask Docker and molecule's state files whether the first destroy has anything to do."""
    listed = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"],
                            capture_output=True, text=True, check=False)
    if listed.returncode != 0:
        return True  # cannot tell: destroy, as molecule test would
    # Molecule keeps each scenario's state under ~/.ansible/tmp/molecule.<project hash>.<name>/;
    # another checkout's state only costs a destroy that finds nothing.
    states = [p.read_text(errors="replace") for p in (Path.home() / ".ansible" / "tmp").glob(f"molecule.*.{name}/state.yml")]
    return left_behind(host_names(name), listed.stdout.split(), states)


def check_step_changes(log: str) -> list[int]:
    """Return the changed= counts of the recaps printed by molecule's check step."""
    start = log.find("> check] Executing")
    if start < 0:
        return []
    end = log.find("] Executed", start)
    section = log[start:end if end > 0 else None]
    return [int(m.group(1)) for m in RECAP.finditer(section)]


def wants_mitogen(environ: Mapping[str, str]) -> bool:
    """No-change steps use Mitogen unless HEARTH_TEST_MITOGEN is set to a false value."""
    return environ.get("HEARTH_TEST_MITOGEN", "1").lower() not in ("0", "false", "no", "off")


def step_environ(base: Mapping[str, str], no_change: bool, mitogen: Mapping[str, str]) -> dict[str, str]:
    """The environment of one step: Mitogen's settings for a no-change step, else Ansible's strategy."""
    return runner.strategy_environ(base, mitogen if no_change and wants_mitogen(base) else None)


def run_scenario(name: str) -> str:
    # One unbuffered stream keeps molecule's step markers next to the ansible output they frame.
    base = dict(os.environ, NO_COLOR="1", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0",
                PYTHONUNBUFFERED="1")
    base["PATH"] = f"{Path(sys.executable).parent}:{base['PATH']}"
    mitogen = runner.mitogen_environ() if wants_mitogen(base) else {}
    lock_path = ROOT / ".cache" / "molecule.lock"
    lock_path.parent.mkdir(exist_ok=True)
    logs = ROOT / ".cache" / "molecule-logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    failed = ""

    # Each step's output goes to the log as it is written, so a long scenario can be followed.
    def step(command: str, no_change: bool, out: TextIO) -> int:
        env = step_environ(base, no_change, mitogen)
        out.write(f"=== molecule {command} -s {name} (strategy {env.get('ANSIBLE_STRATEGY', 'linear')})\n")
        out.flush()
        return subprocess.run(
            [sys.executable, "-m", "molecule", command, "-s", name],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
        ).returncode

    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with log_path.open("w") as out:
            try:
                for command, no_change in STEPS:
                    if command == "destroy" and not first_destroy_needed(name):
                        out.write(f"=== molecule destroy -s {name} skipped: no host or state left behind\n")
                        continue
                    if step(command, no_change, out) != 0:
                        failed = command
                        break
            finally:
                if step("destroy", False, out) != 0 and not failed:
                    failed = "destroy"
    log = ANSI.sub("", log_path.read_text(errors="replace"))
    log_path.write_text(log)
    assert not failed, f"molecule {failed} -s {name} failed; log: {log_path}\n{log[-6000:]}"
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


def test_only_the_no_change_steps_use_mitogen() -> None:
    mitogen = {"ANSIBLE_STRATEGY": "mitogen_linear", "ANSIBLE_STRATEGY_PLUGINS": "/x"}
    no_change = {command for command, flag in STEPS if flag}
    assert no_change == {"idempotence", "check"}
    assert step_environ({"A": "1"}, True, mitogen) == {"A": "1", **mitogen}
    assert step_environ({"A": "1"}, False, mitogen) == {"A": "1"}
    assert step_environ({"HEARTH_TEST_MITOGEN": "0"}, True, mitogen) == {"HEARTH_TEST_MITOGEN": "0"}
    # A strategy exported in the caller's shell does not reach the steps that must use Ansible's.
    assert step_environ({"A": "1", **mitogen}, False, mitogen) == {"A": "1"}


def test_the_first_destroy_runs_only_when_something_was_left() -> None:
    created = "converged: false\ncreated: true\ndriver: docker\n"
    clean = "converged: false\ncreated: false\ndriver: null\n"
    assert not left_behind(["x-host"], ["other-host"], [clean])
    assert left_behind(["x-host"], ["other-host", "x-host"], [clean])
    assert left_behind(["x-host"], [], [clean, created])
    assert not left_behind(["x-host"], ["x-hostile"], [])
    assert host_names("platform") == ["platform-host"]
    assert host_names("common") == ["common-host"]


def test_every_step_molecule_test_runs_is_run_in_order() -> None:
    """The stepwise run covers the scenario's test_sequence: nothing skipped, nothing reordered."""
    import yaml

    config = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text())
    sequence = [s for s in config["scenario"]["test_sequence"] if s != "destroy"]
    covered = ["create", "prepare", "converge"] + [c for c, _ in STEPS if c not in ("destroy", "converge")]
    assert covered == sequence
    assert config["scenario"]["check_sequence"] == ["check"]
