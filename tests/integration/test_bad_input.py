"""Malformed role input fails with a message naming the variable, before anything changes.

Each case applies one role to the controller itself (connection local, check mode, no facts)
with one bad variable. Argument specs and the roles' own validation run first, so the play must
fail with the expected message and report changed=0.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# role, variables, pattern the failure message must match
CASES: list[tuple[str, dict, str]] = [
    ("postgres", {"postgres_roles": [{"password": "x" * 20}]}, r"postgres_roles.*name"),
    ("postgres", {"postgres_databases": [{"name": "app", "extensions": ["vectr"]}]}, r"postgres_databases\[0\].*unknown: vectr"),
    ("postgres", {"postgres_memory_share": "lots"}, r"postgres_memory_share"),
    ("postgres", {"postgres_memory_share": 1.5}, r"postgres_memory_share must be a fraction"),
    ("postgres", {"postgres_hba_extra_rules": [{"type": "host", "address": "10.0.0.0/8", "method": "md5"}]},
     r"postgres_hba_rules\[\d+\]\.method"),
    ("postgres", {"postgres_databases": [{"name": "old", "state": "absent"}]}, r"old marked state=absent.*postgres_allow_drop"),
    ("postgres", {"postgres_databases": "app"}, r"postgres_databases"),
    ("redis", {"redis_users": [{"name": "app", "password": "short"}]}, r"redis_users\[0\].*16 characters"),
    ("redis", {"redis_users": [{"password": "x" * 20}]}, r"redis_users.*name"),
    ("redis", {"redis_memory_share": 0}, r"redis_memory_share must be a fraction"),
    ("redis", {"redis_maxmemory_policy": "evict-everything"}, r"redis_maxmemory_policy"),
    ("redis", {"redis_port": "six"}, r"redis_port"),
]

GOOD_DEFAULTS = {
    "redis_admin_password": "a-long-enough-admin-password",
    "redis_users": [],
    "postgres_roles": [],
    "postgres_databases": [],
}


def run_role(role: str, variables: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "bad_input.yml"
    playbook.write_text(
        f"- hosts: localhost\n  gather_facts: false\n  connection: local\n  roles:\n    - {role}\n"
    )
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({**GOOD_DEFAULTS, **variables}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_ROLES_PATH=str(ROOT / "roles"), ANSIBLE_FILTER_PLUGINS=str(ROOT / "filter_plugins"),
               ANSIBLE_LIBRARY=str(ROOT / "library"), ANSIBLE_MODULE_UTILS=str(ROOT / "module_utils"),
               )
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "--check", "-e", f"@{extra}", str(playbook)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )


@pytest.mark.parametrize(("role", "variables", "message"), CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_bad_input_fails_early_with_a_named_variable(role: str, variables: dict, message: str, tmp_path: Path) -> None:
    proc = run_role(role, variables, tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"{role} accepted {variables}:\n{output[-3000:]}"
    assert re.search(message, output, re.S), f"expected /{message}/ in:\n{output[-3000:]}"
    assert re.search(r"changed=0\s", output), f"something changed before the failure:\n{output[-2000:]}"


def test_good_input_passes_validation(tmp_path: Path) -> None:
    """The same harness with valid input gets past validation (so the failures above mean something)."""
    playbook = tmp_path / "ok.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  connection: local\n  tasks:\n"
        "    - ansible.builtin.include_role: {name: postgres, tasks_from: validate}\n"
        "    - ansible.builtin.include_role: {name: redis, tasks_from: validate}\n"
    )
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({**GOOD_DEFAULTS, "postgres_databases": [{"name": "app", "extensions": ["vector"]}]}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "--check", "-e", f"@{extra}", str(playbook)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
