"""The in-repo collection hearth.platform: documentation renders, imports stay clean, names are FQCN.

Every plugin of the project lives in ``collections/ansible_collections/hearth/platform`` and is
found through ``collections_path`` in ansible.cfg; none lives in a role or at the top level.
"""
from __future__ import annotations

import ast
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Set

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "collections" / "ansible_collections" / "hearth" / "platform"
PLUGINS = COLLECTION / "plugins"
SKIP_DIRS = {".venv", ".git", ".cache", "__pycache__", ".pytest_cache", ".hypothesis", "node_modules"}
PATH_PATCHING = re.compile(r"\bsys\.path\.(?:insert|append)\b|__path__\.append\b")
ROLE_PLUGIN_DIRS = ("library", "module_utils", "filter_plugins", "lookup_plugins", "test_plugins",
                    "action_plugins", "callback_plugins", "inventory_plugins")


def documentation(path: Path) -> Dict[str, object]:
    """The DOCUMENTATION block of a plugin file, parsed (without importing the plugin)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DOCUMENTATION" for t in node.targets):
            return yaml.safe_load(ast.literal_eval(node.value))
    raise AssertionError("%s has no DOCUMENTATION" % path)


def plugin_files(kind: str) -> List[Path]:
    return sorted(p for p in (PLUGINS / kind).glob("*.py") if p.name != "__init__.py")


def ansible_doc(*args: str) -> subprocess.CompletedProcess:
    """Run ansible-doc from the repository root with its ansible.cfg and nothing inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    return subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


DOCUMENTED = [("module", p) for p in plugin_files("modules")] + [("inventory", p) for p in plugin_files("inventory")]


def test_collection_metadata() -> None:
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"]) == ("hearth", "platform")
    assert (COLLECTION / galaxy["readme"]).is_file()
    runtime = yaml.safe_load((COLLECTION / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"].startswith(">=")
    assert {p.stem for p in plugin_files("modules")} >= {"aws_scan", "hearth_minio", "lambda_filesystem",
                                                         "lambda_instance", "lambda_ssh_key", "vercel_env"}
    assert [p.stem for p in plugin_files("inventory")] == ["lambda_cloud"]


def fragment_options() -> Set[str]:
    """The options the hearth.platform.lambda_api fragment documents."""
    fragment = importlib.import_module("ansible_collections.hearth.platform.plugins.doc_fragments.lambda_api")
    return set(yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"])


def test_lambda_plugins_share_the_api_fragment() -> None:
    """The lambda_* modules and the inventory document the API options once, in the fragment."""
    users = [p for kind in ("modules", "inventory") for p in plugin_files(kind) if p.stem.startswith("lambda_")]
    assert len(users) == 4
    for path in users:
        doc = documentation(path)
        assert "hearth.platform.lambda_api" in doc["extends_documentation_fragment"], path.name
        repeated = {name for name, spec in doc["options"].items() if "description" in spec} & fragment_options()
        assert not repeated, "%s documents %s again" % (path.name, sorted(repeated))


@pytest.mark.slow
@pytest.mark.parametrize("kind,path", DOCUMENTED, ids=[f"{k}-{p.stem}" for k, p in DOCUMENTED])
def test_ansible_doc_renders(kind: str, path: Path) -> None:
    """ansible-doc finds the plugin by FQCN through ansible.cfg and renders its documentation."""
    name = "hearth.platform." + path.stem
    source = documentation(path)
    text = ansible_doc("-t", kind, name)
    assert text.returncode == 0, text.stderr
    assert name in text.stdout and "ERROR" not in text.stderr, text.stderr
    rendered = ansible_doc("-t", kind, "--json", name)
    assert rendered.returncode == 0, rendered.stderr
    assert str(source["short_description"]) in rendered.stdout
    doc = json.loads(rendered.stdout)[name]["doc"]
    assert doc["short_description"] == source["short_description"]
    if "hearth.platform.lambda_api" in source.get("extends_documentation_fragment", []):
        assert fragment_options() <= set(doc["options"]), "the fragment's options are missing"


def python_files() -> Iterator[Path]:
    """Every Python file of the repository outside virtual environments, caches and .git."""
    for directory, subdirs, files in os.walk(ROOT):
        subdirs[:] = [d for d in subdirs if d not in SKIP_DIRS]
        for name in files:
            if name.endswith(".py"):
                yield Path(directory) / name


def test_no_import_path_patching() -> None:
    """Imports go through ansible_collections and pytest.ini's pythonpath, never through sys.path."""
    offenders = ["%s:%d: %s" % (path.relative_to(ROOT), number, line.strip())
                 for path in python_files()
                 for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
                 if PATH_PATCHING.search(line)]
    assert not offenders, "\n".join(offenders)


def test_every_plugin_lives_in_the_collection() -> None:
    """No plugin directory at the top level or in a role; ansible.cfg names none."""
    places = [ROOT / d for d in ("library", "module_utils", "filter_plugins", "plugins")]
    places += [role / d for role in (ROOT / "roles").iterdir() for d in ROLE_PLUGIN_DIRS]
    stray = [str(p.relative_to(ROOT)) for p in places if p.exists()]
    assert not stray, stray
    config = (ROOT / "ansible.cfg").read_text()
    assert not re.search(r"(?m)^\s*(library|module_utils|filter_plugins|inventory_plugins)\s*=", config)
    assert re.search(r"(?m)^collections_path\s*=\s*collections:", config)


def filter_names() -> Set[str]:
    """Every filter the collection's filter plugins provide."""
    names: Set[str] = set()
    for path in plugin_files("filter"):
        plugin = importlib.import_module("ansible_collections.hearth.platform.plugins.filter." + path.stem)
        names.update(plugin.FilterModule().filters())
    return names


def test_filters_are_called_by_fqcn() -> None:
    """Playbooks, roles and molecule files call the collection's filters as hearth.platform.<name>."""
    short = re.compile(r"\|\s*(%s)\b" % "|".join(sorted(filter_names(), key=len, reverse=True)))
    offenders = []
    for top in ("playbooks", "roles", "molecule", "tests"):
        for directory, subdirs, files in os.walk(ROOT / top):
            subdirs[:] = [d for d in subdirs if d not in SKIP_DIRS and d != "fixtures"]
            for name in files:
                if name.endswith((".yml", ".yaml", ".j2")):
                    path = Path(directory) / name
                    offenders += ["%s:%d: %s" % (path.relative_to(ROOT), number, line.strip())
                                  for number, line in enumerate(path.read_text().splitlines(), 1)
                                  if short.search(line)]
    offenders += ["site.yml"] if short.search((ROOT / "site.yml").read_text()) else []
    assert not offenders, "\n".join(offenders)
