"""Controller plays (``hosts: localhost``) run their modules with the Python running Ansible.

With ``-i localhost,`` localhost is an ordinary inventory host, so Ansible discovers its
interpreter from PATH; on a machine with pyenv shims (or any ``python3`` without what a module
needs) the first module then fails. Every controller play therefore sets
``ansible_python_interpreter`` to ``ansible_playbook_python`` in its play vars.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
CONTROLLER_PYTHON = "{{ ansible_playbook_python }}"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
# Every name interpreter discovery may try (ansible-core's fallback list and then some).
PYTHON_NAMES = ["python", "python3"] + ["python3.%d" % minor for minor in range(6, 21)]


def controller_plays() -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(playbook name, play) for every play under playbooks/ that targets only the controller."""
    for path in sorted(PLAYBOOKS.glob("*.yml")):
        for play in yaml.safe_load(path.read_text()) or []:
            hosts = play.get("hosts") if isinstance(play, dict) else None
            if isinstance(hosts, str):
                hosts = [h.strip() for h in hosts.split(",")]
            if hosts and set(hosts) <= LOCAL_HOSTS:
                yield path.name, play


def test_every_controller_play_uses_the_controller_python() -> None:
    plays = list(controller_plays())
    found = {name for name, _ in plays}
    assert {"launch.yml", "ci_workflow.yml", "purge_aws.yml", "frontend.yml"} <= found, found
    wrong: List[str] = ["%s: %s" % (name, play.get("name"))
                        for name, play in plays
                        if (play.get("vars") or {}).get("ansible_python_interpreter") != CONTROLLER_PYTHON]
    assert not wrong, "plays without ansible_python_interpreter: %r in vars: %s" % (CONTROLLER_PYTHON, wrong)


def failing_pythons(directory: Path) -> Path:
    """A directory of python/python3/python3.N executables that fail like a broken pyenv shim."""
    directory.mkdir()
    for name in PYTHON_NAMES:
        shim = directory / name
        shim.write_text("#!/bin/sh\necho 'pyenv: python3: command not found' >&2\nexit 1\n")
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return directory


@pytest.mark.slow
def test_ci_workflow_runs_when_path_pythons_are_broken(tmp_path: Path) -> None:
    """Regression: interpreter discovery picked the first python3 on PATH and the play failed."""
    shims = failing_pythons(tmp_path / "shims")
    assert subprocess.run([str(shims / "python3"), "-V"], check=False).returncode == 1
    checkout = tmp_path / "app"
    checkout.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(PATH="%s:%s" % (shims, env.get("PATH", "/usr/bin:/bin")),
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "facts"))
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
               "playbooks/ci_workflow.yml", "-e", "ci_workflow_checkout=%s" % checkout,
               "-e", "ci_workflow_image=ghcr.io/acme/api"]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (checkout / ".github" / "workflows" / "ghcr.yml").is_file()
