"""ghcr_workflow: the rendered GitHub Actions workflow parses and has the required shape."""
from __future__ import annotations

from typing import Any, Dict

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ghcr import ACTION_VERSIONS, ghcr_workflow


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
def test_ci_workflow_playbook_writes_it_once(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
               "-e", "ansible_python_interpreter=" + sys.executable,
               "-e", "ci_workflow_checkout=" + str(tmp_path),
               "-e", "ci_workflow_image=ghcr.io/acme/api", "playbooks/ci_workflow.yml"]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    runs = [subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                           timeout=300, check=False) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stdout[-2000:]
    assert "changed=2" in runs[0].stdout and "changed=0" in runs[1].stdout  # dir + file
    written = (tmp_path / ".github" / "workflows" / "ghcr.yml").read_text()
    assert written.startswith("# Managed by Hearth")
    assert yaml.safe_load(written)["permissions"] == {"contents": "read", "packages": "write"}
