"""roles/common refuses bad input, naming the variable, before it touches the host.

Runs the role against localhost in check mode; validation is the first thing the role does, so
a refused input stops the play before any package, user, file or firewall task.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest
from check_play import run_check_play

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHearthTestKeyOnly0123456789abcdefghijklmnopq ops@example"

pytestmark = pytest.mark.slow


def run_role(tmp_path: Path, variables: Dict[str, Any], tasks_from: str = "main") -> subprocess.CompletedProcess:
    """Apply the role (or one of its task files) to localhost in check mode."""
    return run_check_play(tmp_path, [{
        "name": "Apply common", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": dict({"ansible_user": "operator"}, **variables),
        "tasks": [{"name": "Run the role", "ansible.builtin.include_role":
                   {"name": "common", "tasks_from": tasks_from}}]}])


@pytest.mark.parametrize("variables,needle", [
    ({"common_admin_users": [{"ssh_keys": [KEY]}]}, "missing required arguments: name found in common_admin_users"),
    ({"common_admin_users": [{"name": "ops", "ssh_keys": ["not-a-key AAAA"]}]}, "common_admin_users[0]"),
    ({"common_admin_users": [{"name": "ops", "ssh_keys": KEY}]}, "common_admin_users[0]"),
    ({"common_admin_users": [{"name": "Ops!", "ssh_keys": [KEY]}]}, "common_admin_users[0]"),
    ({"common_admin_users": [{"name": "ops", "shell": "bash"}]}, "common_admin_users[0]"),
    ({"common_admin_users": [{"name": "ops"}, {"name": "ops"}]}, "common_admin_users has duplicate names"),
    ({"common_admin_users": [{"name": "ubuntu", "state": "absent"}]}, "entry 'ubuntu' would remove, lock or replace"),
    ({"common_admin_users": [{"name": "ubuntu", "shell": "/usr/sbin/nologin"}]}, "entry 'ubuntu' would remove"),
    ({"common_admin_users": [{"name": "operator", "ssh_keys": [KEY], "exclusive_keys": True}]},
     "entry 'operator' would remove, lock or replace"),
    ({"common_admin_users": [{"name": "ops", "groups": ["no-such-group-hearth"]}]},
     "names groups that do not exist on localhost: no-such-group-hearth"),
    ({"hearth_private_networks": ["10.0.0.1/8"]}, "common_firewall_private_networks (default hearth_private_networks)[0]"),
    ({"hearth_private_networks": ["10.0.0.0/8", "fd00::/64", "10.1"]}, "hearth_private_networks)[2] must be a network in CIDR"),
    ({"common_firewall_private_ports": [5432, 70000]}, "integers from 1 to 65535"),
    ({"common_firewall_container_interfaces": ["a-very-long-interface-name"]}, "common_firewall_container_interfaces"),
    ({"common_sysctl_extra_settings": {"not a key": 1}}, "common_sysctl_settings and common_sysctl_extra_settings"),
    ({"common_ssh_permit_root_login": "maybe"}, "common_ssh_permit_root_login"),
])
def test_bad_input_fails_with_the_variable_name(tmp_path: Path, variables: Dict[str, Any], needle: str) -> None:
    result = run_role(tmp_path, variables)
    assert result.returncode != 0
    assert needle in result.stdout, result.stdout[-3000:]
    # Validation stops the play: the first task after it never ran.
    assert "Load the settings for this operating system" not in result.stdout


def test_good_input_passes_validation(tmp_path: Path) -> None:
    result = run_role(tmp_path, {
        "hearth_private_networks": ["10.0.0.0/8", "fd00::/64"],
        "common_admin_users": [{"name": "ops", "ssh_keys": [KEY], "groups": ["root"]},
                               {"name": "ubuntu", "ssh_keys": [KEY]},
                               {"name": "gone", "state": "absent"}],
    }, tasks_from="validate")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "failed=0" in result.stdout
