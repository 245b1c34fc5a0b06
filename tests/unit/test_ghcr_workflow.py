"""ghcr_workflow: the rendered GitHub Actions workflow parses and has the required shape."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible_collections.hearth.platform.plugins.filter.ghcr import ACTION_VERSIONS, ghcr_workflow

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core before 2.19: values are plain str and templates need no trust
    trust_as_template = None

ROOT = Path(__file__).resolve().parents[2]


def load(**kwargs: Any) -> Dict[str, Any]:
    text = ghcr_workflow("ghcr.io/acme/api", **kwargs)
    return yaml.safe_load(text)


def steps_by_action(doc: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {s["uses"].split("@")[0]: s for s in doc["jobs"]["image"]["steps"]}


def test_parses_and_has_least_privilege_permissions() -> None:
    doc = load()
    assert doc["permissions"] == {"contents": "read", "packages": "write"}
    assert set(doc["on"]) == {"push", "pull_request", "workflow_dispatch"}
    assert doc["on"]["push"]["branches"] == ["main"]
    assert doc["on"]["push"]["tags"] == ["v*.*.*"]


def test_uses_current_major_versions() -> None:
    steps = steps_by_action(load())
    assert steps["docker/login-action"]["uses"] == "docker/login-action@v4"
    assert steps["docker/metadata-action"]["uses"] == "docker/metadata-action@v6"
    assert steps["docker/build-push-action"]["uses"] == "docker/build-push-action@v7"
    assert steps["actions/checkout"]["uses"] == "actions/checkout@v6"
    for name, step in steps.items():
        assert step["uses"] == "%s@%s" % (name, ACTION_VERSIONS[name])


def test_versions_can_be_pinned() -> None:
    steps = steps_by_action(load(versions={"docker/build-push-action": "v6"}))
    assert steps["docker/build-push-action"]["uses"] == "docker/build-push-action@v6"


def test_login_and_push_skip_pull_requests() -> None:
    steps = steps_by_action(load())
    login = steps["docker/login-action"]
    assert login["if"] == "github.event_name != 'pull_request'"
    assert login["with"] == {"registry": "ghcr.io", "username": "${{ github.actor }}",
                             "password": "${{ secrets.GITHUB_TOKEN }}"}
    build = steps["docker/build-push-action"]["with"]
    assert build["push"] == "${{ github.event_name != 'pull_request' }}"
    assert build["tags"] == "${{ steps.meta.outputs.tags }}"
    assert build["labels"] == "${{ steps.meta.outputs.labels }}"


def test_tags_by_sha_branch_and_semver() -> None:
    meta = steps_by_action(load())["docker/metadata-action"]
    assert meta["id"] == "meta"
    assert meta["with"]["images"] == "ghcr.io/acme/api"
    rules = meta["with"]["tags"].splitlines()
    assert "type=sha" in rules
    assert "type=ref,event=branch" in rules
    assert "type=semver,pattern={{version}}" in rules
    assert "type=semver,pattern={{major}}.{{minor}}" in rules


def test_parameters_flow_into_the_build() -> None:
    doc = load(branches=["main", "release"], context="services/api",
               dockerfile="services/api/Dockerfile", platforms=["linux/amd64", "linux/arm64"])
    build = steps_by_action(doc)["docker/build-push-action"]["with"]
    assert build["context"] == "services/api"
    assert build["file"] == "services/api/Dockerfile"
    assert build["platforms"] == "linux/amd64,linux/arm64"
    assert doc["on"]["pull_request"]["branches"] == ["main", "release"]


def test_header_is_prepended_as_comment() -> None:
    text = ghcr_workflow("ghcr.io/acme/api", header="# Managed by Hearth")
    assert text.startswith("# Managed by Hearth\n---\n")
    assert "&id" not in text and "*id" not in text


@pytest.mark.parametrize("image,needle", [
    ("docker.io/acme/api", "ghcr.io/<owner>/<name>"),
    ("ghcr.io/acme/api:v1", "must not carry a tag"),
    ("nginx", "ghcr.io/<owner>/<name>"),
    ("ghcr.io/Acme/api", "lowercase"),
])
def test_bad_image(image: str, needle: str) -> None:
    with pytest.raises(AnsibleFilterError, match=needle):
        ghcr_workflow(image)


@pytest.mark.parametrize("kwargs", [{"branches": []}, {"platforms": [""]},
                                    {"tag_rules": []}])
def test_bad_lists(kwargs: Dict[str, Any]) -> None:
    with pytest.raises(AnsibleFilterError, match="non-empty list"):
        ghcr_workflow("ghcr.io/acme/api", **kwargs)


@pytest.mark.slow
def test_ci_workflow_playbook_writes_it_once(tmp_path: Path) -> None:
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
               "-e", "ci_workflow_checkout=" + str(tmp_path),
               "-e", "ci_workflow_image=ghcr.io/acme/api", "playbooks/ci_workflow.yml"]
    env = _playbook_env(tmp_path)
    runs = [subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=300, check=False) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stdout[-2000:]
    assert "changed=2" in runs[0].stdout and "changed=0" in runs[1].stdout  # dir + file
    written = (tmp_path / ".github" / "workflows" / "ghcr.yml").read_text()
    assert written.startswith("# Managed by Hearth")
    assert yaml.safe_load(written)["permissions"] == {"contents": "read", "packages": "write"}

class _Str(str):
    """A str subclass, as Ansible passes every string it loaded or templated."""


class _List(list):
    """A list subclass, as Ansible passes lists that came from -e or a vars file."""


def _assert_app_workflow(text: str, branches: list) -> None:
    """The workflow builds ./app with app/Dockerfile on ``branches``, in plain YAML."""
    assert "!!python" not in text
    doc = yaml.safe_load(text)
    build = steps_by_action(doc)["docker/build-push-action"]["with"]
    assert (build["context"], build["file"]) == ("app", "app/Dockerfile")
    assert doc["on"]["push"]["branches"] == branches
    assert doc["on"]["pull_request"]["branches"] == branches


def test_str_and_list_subclasses_render() -> None:
    """Regression: the YAML representer was registered for the exact str type only."""
    text = ghcr_workflow(_Str("ghcr.io/acme/api"), branches=_List([_Str("main"), _Str("release")]),
                         context=_Str("app"), dockerfile=_Str("app/Dockerfile"),
                         versions={_Str("actions/checkout"): _Str("v6")},
                         header=_Str("# Managed by Hearth"))
    _assert_app_workflow(text, ["main", "release"])


def test_values_templated_by_ansible_render(tmp_path: Path) -> None:
    """Regression: values from group_vars or -e @file reach the filter as Ansible's own types."""
    if trust_as_template is None:
        pytest.skip("this ansible-core does not tag values")
    vars_file = tmp_path / "group_vars" / "all.yml"
    loader = DataLoader()
    variables = loader.load("ci_workflow_branches: [main, release]\nci_workflow_context: app\n"
                            "ci_workflow_dockerfile: app/Dockerfile\n", file_name=str(vars_file))
    templar = Templar(loader=loader, variables=variables)
    values = {name: templar.template(trust_as_template("{{ ci_workflow_%s }}" % name))
              for name in ("branches", "context", "dockerfile")}
    assert type(values["context"]) is not str and isinstance(values["context"], str)
    assert type(values["branches"]) is not list and isinstance(values["branches"], list)
    _assert_app_workflow(ghcr_workflow("ghcr.io/acme/api", **values), ["main", "release"])


def _playbook_env(tmp_path: Path, **extra: str) -> Dict[str, str]:
    """The repository's ansible.cfg, caches under tmp_path, no colour, no inherited ANSIBLE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "facts"))
    env.update(extra)
    return env


@pytest.mark.slow
def test_ci_workflow_playbook_takes_extra_vars(tmp_path: Path) -> None:
    """Regression: branches, context and dockerfile given with -e made the filter fail."""
    checkout = tmp_path / "app"
    checkout.mkdir()
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
               "playbooks/ci_workflow.yml", "-e", "ci_workflow_checkout=%s" % checkout,
               "-e", "ci_workflow_image=ghcr.io/acme/api",
               "-e", '{"ci_workflow_branches": ["main", "release"]}',
               "-e", "ci_workflow_context=app", "-e", "ci_workflow_dockerfile=app/Dockerfile"]
    run = subprocess.run(command, cwd=ROOT, env=_playbook_env(tmp_path), capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    written = (checkout / ".github" / "workflows" / "ghcr.yml").read_text()
    assert written.startswith("# Managed by Hearth")
    _assert_app_workflow(written, ["main", "release"])


def test_multi_line_values_are_block_scalars() -> None:
    """The tag rules read as people write them (``tags: |``), not as one quoted line."""
    text = ghcr_workflow("ghcr.io/acme/api")
    assert "          tags: |\n" in text
    assert "\\n" not in text
