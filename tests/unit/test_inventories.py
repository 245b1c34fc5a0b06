"""Inventories and secrets: one sample that holds every secret name, environments that load
cleanly, and plays that refuse to run without an environment.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SAMPLE = ROOT / "samples" / "inventory"
SECRET_NAME = re.compile(r"\b(vault" + r"_[a-z0-9_]+)\b")
# Ansible's own settings that happen to share the prefix; they name no secret.
ANSIBLE_SETTINGS = {"vault" + "_identity_list", "vault" + "_password_file", "vault" + "_id"}
SKIP_DIRS = {".git", ".venv", ".cache", "__pycache__", ".pytest_cache", ".hypothesis", "node_modules"}
# Tests of the name checks themselves, which invent secret names on purpose.
INVENTED_NAMES = {"tests/unit/test_apps_filters.py"}
# What Ansible and the tools read. Markdown is left out: the docs show how a team adds secrets
# of its own (vault_<name> examples), which no sample can list in advance.
TEXT_SUFFIXES = {".yml", ".yaml", ".j2", ".py", ".sh", ".cfg", ".example", ".json", ".txt", ""}


def _env() -> dict[str, str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["PATH"] = f"{BIN}:{env['PATH']}"
    env.pop("LAMBDA_API_KEY", None)
    return env


def referenced_secret_names() -> dict[str, list[str]]:
    """Every vault variable name used anywhere in the tree, with the files that use it."""
    names: dict[str, list[str]] = {}
    for directory, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".secrets")]
        for name in files:
            path = Path(directory, name)
            if path.suffix not in TEXT_SUFFIXES or path.is_symlink() or path.name == "ansible.cfg" \
                    or str(path.relative_to(ROOT)) in INVENTED_NAMES:
                continue
            try:
                text = path.read_text()
            except (UnicodeDecodeError, OSError):
                continue
            for match in SECRET_NAME.findall(text):
                if match not in ANSIBLE_SETTINGS:
                    names.setdefault(match, []).append(str(path.relative_to(ROOT)))
    return names


def yaml_keys(path: Path) -> set[str]:
    return set(yaml.safe_load(path.read_text()) or {})


def test_the_search_finds_the_names_it_must() -> None:
    names = referenced_secret_names()
    assert "vault_postgres_app_password" in names and "vault_vllm_api_key" in names


def test_every_secret_name_is_in_the_sample_vault() -> None:
    missing = {n: f for n, f in referenced_secret_names().items()
               if n not in yaml_keys(SAMPLE / "group_vars/all/vault.yml.example")}
    assert not missing, f"add to samples/inventory/group_vars/all/vault.yml.example: {missing}"


def test_every_secret_name_is_generated_for_the_lab_and_set_for_test_hosts() -> None:
    lab = yaml_keys(ROOT / "inventories/lab/group_vars/all/secrets.yml")
    tests = yaml_keys(ROOT / "molecule/shared/group_vars/all/secrets.yml")
    names = referenced_secret_names()
    assert not {n: f for n, f in names.items() if n not in lab}, "missing in inventories/lab/group_vars/all/secrets.yml"
    assert not {n: f for n, f in names.items() if n not in tests}, "missing in molecule/shared/group_vars/all/secrets.yml"


def _inventory(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "ansible-inventory"), "-i", str(path), "--list"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, check=False, timeout=120)


def test_the_lab_inventory_loads_without_warnings() -> None:
    proc = _inventory(ROOT / "inventories/lab")
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr.upper(), proc.stderr


def test_a_copy_of_the_sample_loads_without_warnings_and_without_placeholder_secrets(tmp_path: Path) -> None:
    env_dir = tmp_path / "production"
    shutil.copytree(SAMPLE, env_dir, symlinks=True)
    (env_dir / "lambda_cloud.yml").unlink()  # static hosts only: the plugin needs the API
    proc = _inventory(env_dir)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr.upper(), proc.stderr
    assert "change-me" not in proc.stdout, "the sample vault's placeholders were loaded"


def test_the_sample_names_only_files_it_has() -> None:
    hosts = (SAMPLE / "hosts.yml").read_text()
    for mentioned in re.findall(r"\b([a-z_]+\.yml)\b", hosts):
        assert (SAMPLE / mentioned).exists(), f"hosts.yml mentions {mentioned}"
    for playbook in (ROOT / "playbooks").glob("*.yml"):
        for mentioned in re.findall(r"group_vars/all/([a-z_]+\.yml)", playbook.read_text()):
            assert (SAMPLE / "group_vars/all" / mentioned).exists(), f"{playbook.name} mentions {mentioned}"


def test_a_play_without_an_environment_fails_naming_hearth_env(tmp_path: Path) -> None:
    play = tmp_path / "inline.yml"
    play.write_text(yaml.safe_dump([{"name": "Inline", "hosts": "localhost", "gather_facts": False,
                                     "roles": [{"role": "hearth"}]}]))
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(play)],
                          cwd=ROOT, env=dict(_env(), ANSIBLE_ROLES_PATH=str(ROOT / "roles")),
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode != 0
    assert "hearth_env" in proc.stdout + proc.stderr
