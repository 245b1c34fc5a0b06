"""Host invariants run through pytest-testinfra against converged hosts.

    pytest --hosts=ansible://all --ansible-inventory=inventories/<env> tests/host

Without --hosts, testinfra would point the `host` fixture at this machine, so every test that
uses it is skipped instead; the pure tests of the checks (test_host_checks.py) still run.

testinfra's ansible backend reads the inventory with `ansible-inventory` and reaches each host
through its own ssh, docker or local backend (it maps `community.docker.docker`, used by the lab
and by molecule, to docker). Commands that need root go through `sudo` unless the connection
already logs in as root.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from host_checks import RunAsRoot, unwrap

HERE = Path(__file__).resolve().parent
HOST_FIXTURES = {"host", "_testinfra_host"}


def pytest_configure(config: pytest.Config) -> None:
    """Let testinfra find ansible-inventory and ansible next to this interpreter (the venv)."""
    if config.getoption("hosts", default=None) and shutil.which("ansible-inventory") is None:
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip this directory's host tests unless hosts were named with --hosts."""
    if config.getoption("hosts", default=None):
        return
    skip = pytest.mark.skip(reason="host invariants need --hosts (e.g. --hosts=ansible://all --ansible-inventory=...)")
    for item in items:
        if HERE in Path(str(item.path)).parents and HOST_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(skip)


@pytest.fixture(scope="module")
def as_root(host: Any) -> RunAsRoot:
    """host.run as root: directly when the connection is root, through sudo otherwise."""
    is_root = host.run("id -u").stdout.strip() == "0"

    def run(command: str, *args: str) -> Any:
        if is_root:
            return host.run(command, *args)
        with host.sudo():
            return host.run(command, *args)

    return run


@pytest.fixture(scope="module")
def network_vars(host: Any) -> dict[str, Any]:
    """hearth_private_ip and hearth_private_networks from the inventory ({} without the ansible backend).

    Only these two: a failing test prints its fixtures' values, and the whole variable set can
    hold secrets.
    """
    try:
        variables = host.ansible.get_variables()
    except Exception:  # noqa: BLE001 - any other backend has no inventory to ask
        return {}
    return {name: unwrap(variables.get(name)) for name in ("hearth_private_ip", "hearth_private_networks")}
