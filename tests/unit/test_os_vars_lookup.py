"""hearth.platform.os_vars: the one OS-vars fallback chain every role uses."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleLookupError

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "collections" / "ansible_collections" / "hearth" / "platform" / "plugins" / "lookup" / "os_vars.py"
SUPPORTED = {"Debian-13": ("Debian", "13", "Debian"), "Ubuntu-22": ("Ubuntu", "22", "Debian"),
             "Ubuntu-24": ("Ubuntu", "24", "Debian")}
LOOKUP_TASK = "{{ lookup('hearth.platform.os_vars', role_path ~ '/vars') }}"


def load_plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hearth_os_vars", PLUGIN)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


os_vars = load_plugin()


def facts(distribution: str, major: str, family: str) -> dict[str, Any]:
    return {"ansible_facts": {"distribution": distribution, "distribution_major_version": major,
                              "os_family": family}}


def lookup(directory: Path, variables: dict[str, Any]) -> str:
    result = os_vars.LookupModule().run([str(directory)], variables=variables)
    assert len(result) == 1
    return result[0]


@pytest.fixture()
def vars_dir(tmp_path: Path) -> Path:
    for name in ("Ubuntu-24.yml", "Ubuntu.yml", "Debian.yml", "default.yml", "main.yml"):
        (tmp_path / name).write_text("---\n")
    return tmp_path


@pytest.mark.parametrize(("host", "expected"), [
    (("Ubuntu", "24", "Debian"), "Ubuntu-24.yml"),
    (("Ubuntu", "22", "Debian"), "Ubuntu.yml"),
    (("Debian", "13", "Debian"), "Debian.yml"),
    (("Pop!_OS", "22", "Debian"), "Debian.yml"),
    (("Rocky", "9", "RedHat"), "default.yml"),
])
def test_chain_picks_the_most_specific_existing_file(vars_dir: Path, host: tuple[str, str, str],
                                                     expected: str) -> None:
    assert lookup(vars_dir, facts(*host)) == str(vars_dir / expected)


def test_candidate_names_are_ordered_and_not_repeated() -> None:
    names = os_vars.candidate_names({"distribution": "Debian", "distribution_major_version": "13",
                                     "os_family": "Debian"})
    assert names == ["Debian-13.yml", "Debian.yml", "default.yml"]


def test_injected_fact_variables_are_used_when_ansible_facts_lacks_them(vars_dir: Path) -> None:
    variables = {"ansible_facts": {}, "ansible_distribution": "Ubuntu",
                 "ansible_distribution_major_version": "24", "ansible_os_family": "Debian"}
    assert lookup(vars_dir, variables) == str(vars_dir / "Ubuntu-24.yml")


def test_no_file_names_the_distribution_and_the_files_tried(tmp_path: Path) -> None:
    (tmp_path / "Debian-13.yml").write_text("---\n")
    with pytest.raises(AnsibleLookupError) as error:
        lookup(tmp_path, facts("Fedora", "41", "RedHat"))
    message = str(error.value)
    assert "distribution Fedora 41" in message
    assert "tried Fedora-41.yml, Fedora.yml, RedHat.yml, default.yml" in message
    assert str(tmp_path) in message


def test_missing_facts_are_refused_rather_than_guessed(vars_dir: Path) -> None:
    with pytest.raises(AnsibleLookupError, match="gather facts first"):
        lookup(vars_dir, {})


def test_a_directory_is_required_and_options_are_refused(vars_dir: Path) -> None:
    with pytest.raises(AnsibleLookupError, match="needs a vars directory"):
        os_vars.LookupModule().run([], variables=facts("Debian", "13", "Debian"))
    with pytest.raises(AnsibleLookupError, match="takes no options"):
        os_vars.LookupModule().run([str(vars_dir)], variables=facts("Debian", "13", "Debian"),
                                   paths=["x"])


def test_plugin_is_documented() -> None:
    for block in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
        assert yaml.safe_load(getattr(os_vars, block)), block
    doc = yaml.safe_load(os_vars.DOCUMENTATION)
    assert doc["name"] == "os_vars" and "_terms" in doc["options"]


# --- The roles ------------------------------------------------------------------------------

def roles_loading_os_vars() -> list[Path]:
    roles = []
    for tasks in sorted((ROOT / "roles").glob("*/tasks/*.yml")):
        text = tasks.read_text()
        if "include_vars" in text and "role_path" in text:
            roles.append(tasks.parent.parent)
    return sorted(set(roles))


ROLES = roles_loading_os_vars()


def test_roles_are_found() -> None:
    assert {"common", "postgres", "redis"} <= {role.name for role in ROLES}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_loads_os_vars_through_the_shared_lookup(role: Path) -> None:
    loads = []
    for tasks in sorted((role / "tasks").glob("*.yml")):
        for task in yaml.safe_load(tasks.read_text()) or []:
            value = task.get("ansible.builtin.include_vars") if isinstance(task, dict) else None
            if isinstance(value, str) and "lookup(" in value:
                loads.append((tasks.name, task))
    assert loads, f"{role.name} loads OS vars without hearth.platform.os_vars"
    for name, task in loads:
        assert task["ansible.builtin.include_vars"] == LOOKUP_TASK, f"{role.name}/tasks/{name}"
        assert task["name"] == "Load the settings for this operating system", f"{role.name}/tasks/{name}"
    assert not re.search(r"first_found", "".join(p.read_text() for p in (role / "tasks").glob("*.yml")))


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
@pytest.mark.parametrize("host", sorted(SUPPORTED))
def test_every_supported_os_resolves_to_a_vars_file(role: Path, host: str) -> None:
    path = Path(lookup(role / "vars", facts(*SUPPORTED[host])))
    assert path.parent == role / "vars" and path.name != "main.yml"
