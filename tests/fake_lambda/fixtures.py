"""pytest fixtures and runners shared by the Lambda Cloud tests.

``fake`` starts a :class:`FakeLambda` and, at teardown, fails the test if any request or
response broke the OpenAPI contract. ``run_module`` runs a module's ``main()`` in-process the
way Ansible does (arguments through ``AnsibleModule``, JSON result on stdout).
``ansible_env`` is the environment for running ``ansible-playbook``/``ansible-inventory`` from
the repository root with caches in a temporary directory.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Tuple

import pytest
from ansible.module_utils.testing import patch_module_args

from .server import FakeLambda

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


@pytest.fixture
def fake() -> Iterator[FakeLambda]:
    """A running fake API with one SSH key (``ops``); contract violations fail the test."""
    server = FakeLambda().start()
    server.add_ssh_key("ops", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpsKeyForTests ops@hearth")
    try:
        yield server
    finally:
        server.stop()
    assert server.violations == [], "requests or responses broke the OpenAPI contract"


def fast_args(fake: FakeLambda, **args: Any) -> Dict[str, Any]:
    """Module arguments pointing at the fake, with pacing that does not slow tests down."""
    base = {"api_key": fake.api_key, "api_url": fake.url, "request_interval": 0.0,
            "launch_interval": 0.0}
    base.update(args)
    return base


def run_module(main: Callable[[], None], args: Mapping[str, Any]) -> Tuple[bool, Dict[str, Any]]:
    """Run a module's ``main`` in-process; return (failed, result)."""
    out = io.StringIO()
    with patch_module_args(dict(args)), contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main()
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    return bool(result.get("failed")), result


def ansible_env(tmp_path: Path, **extra: str) -> Dict[str, str]:
    """Environment for ansible CLIs: project config, caches under ``tmp_path``, no colour."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "LAMBDA_"))}
    env.update({
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_INVENTORY_CACHE_CONNECTION": str(tmp_path / "inventory-cache"),
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "facts"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
    })
    env.update(extra)
    return env


def run_cli(tool: str, args: List[str], env: Mapping[str, str]) -> subprocess.CompletedProcess:
    """Run an ansible CLI from the virtual environment in the repository root."""
    return subprocess.run([str(VENV_BIN / tool), *args], cwd=ROOT, env=dict(env),
                          capture_output=True, text=True, timeout=300, check=False)


def recap(stdout: str) -> Dict[str, int]:
    """The localhost PLAY RECAP counters of an ansible-playbook run."""
    for line in stdout.splitlines():
        if line.startswith("localhost") and "ok=" in line:
            return {k: int(v) for k, v in (part.split("=") for part in line.split(":", 1)[1].split())}
    raise AssertionError("no PLAY RECAP in output:\n" + stdout)
