"""Malformed role input fails with a message naming the variable, before anything changes.

Each case applies one role to the controller itself (connection local, check mode, no facts)
with one bad variable. Argument specs and the roles' own validation run first, so the play must
fail with the expected message and report changed=0.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from check_play import run_check_play

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
    play = {"hosts": "localhost", "gather_facts": False, "connection": "local", "roles": [role]}
    return run_check_play(tmp_path, [play], extra_vars={**GOOD_DEFAULTS, **variables})


@pytest.mark.parametrize(("role", "variables", "message"), CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_bad_input_fails_early_with_a_named_variable(role: str, variables: dict, message: str, tmp_path: Path) -> None:
    proc = run_role(role, variables, tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"{role} accepted {variables}:\n{output[-3000:]}"
    assert re.search(message, output, re.S), f"expected /{message}/ in:\n{output[-3000:]}"
    assert re.search(r"changed=0\s", output), f"something changed before the failure:\n{output[-2000:]}"


def test_good_input_passes_validation(tmp_path: Path) -> None:
    """The same harness with valid input gets past validation (so the failures above mean something)."""
    play = {"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": [
        {"ansible.builtin.include_role": {"name": "postgres", "tasks_from": "validate"}},
        {"ansible.builtin.include_role": {"name": "redis", "tasks_from": "validate"}},
    ]}
    proc = run_check_play(tmp_path, [play], extra_vars={
        **GOOD_DEFAULTS, "postgres_databases": [{"name": "app", "extensions": ["vector"]}]})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
