"""Every role that splits settings by OS defines the same variables for each OS it supports.

Ubuntu hosts cannot be booted here, so this is where an Ubuntu-only omission shows up: a role
whose Debian-13.yml sets a variable that Ubuntu-24.yml forgets would fail only on Lambda hosts.
The fallbacks of the shared chain (hearth.platform.os_vars: `<Distribution>.yml`,
`<os_family>.yml`, `default.yml`) are held to the same set of variables.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SUPPORTED = ("Debian-13", "Ubuntu-22", "Ubuntu-24")


# Files the OS-vars chain can pick: Debian-13.yml, Debian.yml, default.yml (not main.yml, or
# files a role includes by name such as postgres's pgdg.yml).
OS_FILE = re.compile(r"^(?:[A-Z][^/]*|default)\.yml$")


def os_var_files(role: Path) -> dict[str, dict]:
    files = {}
    for path in sorted((role / "vars").glob("*.yml")):
        if OS_FILE.match(path.name):
            files[path.stem] = yaml.safe_load(path.read_text()) or {}
    return files


ROLES = sorted(p for p in (ROOT / "roles").iterdir() if os_var_files(p))


def test_supported_systems_are_covered() -> None:
    assert all(set(SUPPORTED) <= set(os_var_files(ROOT / "roles" / name))
               for name in ("aws_purge", "common", "postgres"))


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_each_supported_os_defines_the_same_variables(role: Path) -> None:
    files = os_var_files(role)
    keys = {name: set(data) for name, data in files.items()}
    union = set().union(*keys.values())
    missing = {name: sorted(union - k) for name, k in keys.items() if union - k}
    assert not missing, f"{role.name}: variables missing per OS file: {missing}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_os_variables_are_internal(role: Path) -> None:
    for name, data in os_var_files(role).items():
        public = [k for k in data if not k.startswith("__")]
        assert not public, f"{role.name}/vars/{name}.yml sets public variables {public}; use __{role.name}_*"


def test_postgres_uses_pgdg_on_ubuntu_and_debian_packages_on_trixie() -> None:
    files = os_var_files(ROOT / "roles" / "postgres")
    assert files["Debian-13"]["__postgres_default_source"] == "distro"
    assert files["Ubuntu-22"]["__postgres_default_source"] == "pgdg"
    assert files["Ubuntu-24"]["__postgres_default_source"] == "pgdg"
