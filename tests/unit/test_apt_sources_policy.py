"""Every role that adds a vendor's apt source does it in a way that works on a fresh host.

Two mistakes were found by running the docker role's install from Docker's repository against a
stand-in (molecule/ghcr_auth/verify_docker_repo.yml); the other vendor sources (Grafana, NVIDIA's
CUDA and container toolkit repositories) cannot run here, so the same rules are read from their
task files:

- ansible.builtin.deb822_repository needs python3-debian on the host, which Debian and minimal
  Ubuntu images lack: the role installs it earlier in the same file;
- the apt task that installs from the new source must refresh the index when the source was just
  added, whatever the index's age: a constant cache_valid_time skips the update when another
  role refreshed the cache minutes before, and the install then finds no such package.
And one rule of trust: the downloaded key's fingerprint is compared with the role's variable
before any source names the key, so a tampered key fails the run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _tasks(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tasks in file order, blocks flattened."""
    flat: list[dict[str, Any]] = []
    for item in items or []:
        if "block" in item:
            flat.extend(_tasks(item["block"]))
            flat.extend(_tasks(item.get("rescue", [])))
            flat.extend(_tasks(item.get("always", [])))
        else:
            flat.append(item)
    return flat


def _role_vars(task_file: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in sorted((task_file.parent.parent / "vars").glob("*.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


def _apt_names(task: dict[str, Any], role_vars: dict[str, Any]) -> list[str]:
    """The packages an apt task names, its variable resolved from the role's vars."""
    name = task["ansible.builtin.apt"].get("name", [])
    if isinstance(name, str) and name.startswith("{{"):
        name = role_vars.get(name.strip("{} "), [])
    return [name] if isinstance(name, str) else list(name)


FILES = sorted(p for p in ROOT.glob("roles/*/tasks/*.yml") if "deb822_repository" in p.read_text())


def test_the_vendor_sources_are_found() -> None:
    assert {p.parent.parent.name for p in FILES} == {"docker", "monitoring", "nvidia_driver"}, FILES


@pytest.mark.parametrize("task_file", FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_python3_debian_is_installed_before_the_source_is_written(task_file: Path) -> None:
    tasks = _tasks(yaml.safe_load(task_file.read_text()))
    source = next(i for i, t in enumerate(tasks) if "ansible.builtin.deb822_repository" in t)
    earlier = [t for t in tasks[:source] if "ansible.builtin.apt" in t]
    assert any("python3-debian" in _apt_names(t, _role_vars(task_file)) for t in earlier), (
        f"{task_file}: {tasks[source]['name']!r} needs python3-debian installed before it")


@pytest.mark.parametrize("task_file", FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_the_install_after_a_new_source_refreshes_the_index(task_file: Path) -> None:
    tasks = _tasks(yaml.safe_load(task_file.read_text()))
    source = next(i for i, t in enumerate(tasks) if "ansible.builtin.deb822_repository" in t)
    install = next(t for t in tasks[source + 1:] if "ansible.builtin.apt" in t)
    apt = install["ansible.builtin.apt"]
    assert apt.get("update_cache"), f"{task_file}: {install['name']!r} never refreshes the index"
    valid = apt.get("cache_valid_time")
    assert valid is None or (isinstance(valid, str) and "changed" in valid), (
        f"{task_file}: {install['name']!r} has cache_valid_time {valid!r}, which skips the update "
        "for a source added this run when the index is younger than that")


@pytest.mark.parametrize("task_file", FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_the_key_fingerprint_is_checked_before_the_source_is_written(task_file: Path) -> None:
    tasks = _tasks(yaml.safe_load(task_file.read_text()))
    source = next(i for i, t in enumerate(tasks) if "ansible.builtin.deb822_repository" in t)
    key = tasks[source]["ansible.builtin.deb822_repository"]["signed_by"]
    download = next(i for i, t in enumerate(tasks) if t.get("ansible.builtin.get_url", {}).get("dest") == key)
    checks = [t for t in tasks[download + 1:source]
              if "gpg --show-keys" in str(t.get("ansible.builtin.command", "")) and key in str(t)]
    assert checks, f"{task_file}: nothing checks {key}'s fingerprint between its download and the source"
    assert "_fingerprint" in str(checks[0].get("failed_when", "")), (
        f"{task_file}: {checks[0]['name']!r} does not fail on another fingerprint")
