"""Run a play against the controller itself in check mode, as the bad-input tests do.

Roles validate their input before anything else, so a play applied to localhost with
connection local and --check shows the refusal without touching this machine.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def run_check_play(tmp_path: Path, plays: list[dict[str, Any]], extra_vars: dict[str, Any] | None = None
                   ) -> subprocess.CompletedProcess[str]:
    """Write `plays` to a playbook under tmp_path and run it on localhost with --check."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(plays))
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
               "-e", "ansible_python_interpreter=" + sys.executable, "--check", str(playbook)]
    if extra_vars is not None:
        # Extra vars outrank role defaults and play vars, as an inventory override would not.
        extra = tmp_path / "vars.yml"
        extra.write_text(yaml.safe_dump(extra_vars))
        command[3:3] = ["-e", f"@{extra}"]
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_ROLES_PATH=str(ROOT / "roles"))
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
