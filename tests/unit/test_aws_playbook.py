"""playbooks/purge_aws.yml end to end on a copy of the fixture repository, and the aws_purge
role against localhost on planted files in a temporary directory (real ansible-playbook runs)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "aws" / "app"
PLAYBOOK = ROOT / "playbooks" / "purge_aws.yml"
ANSIBLE = str(ROOT / ".venv" / "bin" / "ansible-playbook")

pytestmark = pytest.mark.slow


def play(playbook: Path, extra: Dict[str, Any], *flags: str) -> Tuple[int, str, Dict[str, int]]:
    """Run ansible-playbook from the repository root; return rc, output and the recap counts."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_ROLES_PATH=str(ROOT / "roles"))
    proc = subprocess.run([ANSIBLE, str(playbook), "-i", "localhost,", "-c", "local",
                           "-e", json.dumps({"ansible_python_interpreter": sys.executable,
                                             **extra}), *flags],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    recap = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+"
                      r"failed=(\d+)", out)
    counts = ({"ok": int(recap[1]), "changed": int(recap[2]), "failed": int(recap[3])}
              if recap else {})
    return proc.returncode, out, counts


def tree(root: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".hearth" not in p.parts}


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    dest = tmp_path / "app"
    shutil.copytree(FIXTURE, dest)
    return dest


def report(repo_dir: Path) -> Dict[str, Any]:
    return json.loads((repo_dir / ".hearth" / "aws-purge" / "report.json").read_text())


def test_report_mode_writes_reports_and_touches_nothing(repo: Path) -> None:
    before = tree(repo)
    rc, out, counts = play(PLAYBOOK, {"purge_repo": str(repo)})
    assert rc == 0, out
    assert tree(repo) == before
    data = report(repo)
    assert data["applied"] is False and data["summary"]["fixable"] > 0
    assert data["summary"]["total"] == len(data["findings"])
    md = (repo / ".hearth" / "aws-purge" / "report.md").read_text()
    assert md.startswith(f"# AWS remnants in {repo}") and "## Needs a person" in md
    assert "wJalrXUtnFEMI" not in md + json.dumps(data)
    rc, out, counts = play(PLAYBOOK, {"purge_repo": str(repo)})
    assert rc == 0 and counts["changed"] == 0, out


def test_check_mode_apply_shows_the_diff_and_changes_nothing(repo: Path) -> None:
    before = tree(repo)
    rc, out, counts = play(PLAYBOOK, {"purge_repo": str(repo), "purge_apply": True,
                                      "purge_ghcr_owner": "acme"}, "--check", "--diff")
    assert rc == 0, out
    assert tree(repo) == before
    assert "+FROM ghcr.io/acme/base/python:3.12-slim" in out
    assert "wJalrXUtnFEMI" not in out and "AKIA****PLE" in out
    assert not (repo / ".hearth").exists()


def test_apply_rewrites_backs_up_and_a_second_run_has_nothing_to_fix(repo: Path) -> None:
    extra = {"purge_repo": str(repo), "purge_apply": True, "purge_ghcr_owner": "acme",
             "purge_fail_on_fixable": True}
    rc, out, _ = play(PLAYBOOK, extra)
    assert rc == 0, out
    data = report(repo)
    assert data["summary_after"]["fixable"] == 0
    assert "serverless.yml" in data["deleted_files"] and not (repo / "serverless.yml").exists()
    assert (repo / "Dockerfile").read_text().startswith("FROM ghcr.io/acme/base/python:3.12")
    backup = Path(data["backup_dir"])
    assert backup.is_relative_to(repo / ".hearth" / "purge-backup")
    assert (backup / "files" / "serverless.yml").read_bytes() == (FIXTURE / "serverless.yml").read_bytes()
    assert "## Applied" in (repo / ".hearth" / "aws-purge" / "report.md").read_text()

    after_first = tree(repo)
    rc, out, _ = play(PLAYBOOK, extra)
    assert rc == 0, out
    assert tree(repo) == after_first
    data = report(repo)
    assert data["summary"]["fixable"] == 0 and data["changed_files"] == []
    assert data["summary"]["manual"] > 0


@pytest.mark.parametrize("extra,message", [
    ({"purge_repo": "relative/path"}, "purge_repo must be the absolute path"),
    ({"purge_repo": "/nonexistent/hearth-repo"}, "purge_repo must be an existing directory"),
    ({"purge_ghcr_owner": "not/an owner"}, "purge_ghcr_owner a GitHub user"),
    ({"purge_apply": True}, "ghcr_owner must be set"),
])
def test_bad_input_fails_with_a_message_naming_the_variable(repo: Path, extra: Dict[str, Any],
                                                            message: str) -> None:
    before = tree(repo)
    rc, out, _ = play(PLAYBOOK, {"purge_repo": str(repo), **extra})
    assert rc != 0
    assert message in out
    assert tree(repo) == before


# ---------------------------------------------------------------------------------------------
# The aws_purge role against localhost, confined to planted files under a temporary directory
# (the parts that manage system packages are switched off).
# ---------------------------------------------------------------------------------------------
ROLE_PLAY = """---
- name: Run aws_purge on localhost
  hosts: localhost
  gather_facts: true
  roles: [aws_purge]
  post_tasks:
    - name: Save the fact for the test
      ansible.builtin.copy:
        dest: "{{ fact_out }}"
        content: "{{ hearth_aws_purge | to_json }}"
        mode: "0600"
      check_mode: false
      changed_when: false
"""


def plant(root: Path) -> Dict[str, Any]:
    home = root / "home" / "dev"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_access_key_id = AKIAX\n")
    (home / ".awsome").write_text("keep\n")
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text(json.dumps(
        {"credHelpers": {"123456789012.dkr.ecr.us-east-1.amazonaws.com": "ecr-login",
                         "gcr.io": "gcloud"}}))
    (root / "profile.d").mkdir()
    (root / "profile.d" / "app.sh").write_text("export EDITOR=vi\nexport AWS_PROFILE=x\n")
    (root / "environment").write_text("PATH=/usr/bin\nAWS_DEFAULT_REGION=eu-west-1\n")
    return {"aws_purge_cli": False, "aws_purge_ssm_agent": False,
            "aws_purge_cloudwatch_agent": False, "aws_purge_homes": [str(home)],
            "aws_purge_env_files": [str(root / "environment")],
            "aws_purge_env_dirs": [str(root / "profile.d")]}


def run_role(tmp_path: Path, extra: Dict[str, Any], *flags: str) -> Tuple[int, str, Dict]:
    playbook = tmp_path / "role.yml"
    playbook.write_text(ROLE_PLAY)
    return play(playbook, {**extra, "fact_out": str(tmp_path / "fact.json")}, *flags)


def test_role_removes_planted_remnants_and_is_idempotent(tmp_path: Path) -> None:
    root = tmp_path / "host"
    extra = plant(root)
    home = root / "home" / "dev"

    rc, out, _ = run_role(tmp_path, {**extra, "aws_purge_dry_run": True})
    assert rc == 0, out
    fact = json.loads((tmp_path / "fact.json").read_text())
    assert fact["dry_run"] is True and fact["aws_dirs"] == [str(home / ".aws")]
    assert (home / ".aws").exists()

    rc, out, counts = run_role(tmp_path, extra)
    assert rc == 0, out
    fact = json.loads((tmp_path / "fact.json").read_text())
    assert fact["docker_configs"] == [str(home / ".docker" / "config.json")]
    assert sorted(fact["env_files"]) == sorted([str(root / "environment"),
                                                str(root / "profile.d" / "app.sh")])
    assert not (home / ".aws").exists() and (home / ".awsome").read_text() == "keep\n"
    assert json.loads((home / ".docker" / "config.json").read_text()) == {
        "credHelpers": {"gcr.io": "gcloud"}}
    assert (root / "environment").read_text() == "PATH=/usr/bin\n"
    assert (root / "profile.d" / "app.sh").read_text() == "export EDITOR=vi\n"

    for flags in ((), ("--check",)):
        rc, out, counts = run_role(tmp_path, extra, *flags)
        assert rc == 0 and counts["changed"] == 0, out
