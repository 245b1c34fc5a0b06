"""aws_scan_workflow: the AWS scan workflow's shape, its scan script and playbooks/ci_workflow.yml."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import jsonschema
import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.hearth.platform.plugins.filter.aws_scan_workflow import (
    ACTION_VERSIONS, FilterModule, aws_scan_workflow, aws_scan_workflow_document)
from ansible_collections.hearth.platform.plugins.filter.ghcr import ghcr_workflow

ROOT = Path(__file__).resolve().parents[2]
INSTALL = "git+https://github.com/acme/hearth@v1.1.0"
HEADER = "# Managed by Hearth (playbooks/ci_workflow.yml). Local changes will be overwritten."
# SchemaStore's schema for workflow files; see tests/fixtures/github/README.md.
WORKFLOW_SCHEMA = ROOT / "tests" / "fixtures" / "github" / "github-workflow.json"
STEP_NAMES = ["Check out the repository", "Set up Python", "Install the Hearth AWS scanner",
              "Scan for AWS remnants", "Upload the SARIF log to code scanning",
              "Fail when the scan found AWS remnants"]


def load(**kwargs: Any) -> Dict[str, Any]:
    return yaml.safe_load(aws_scan_workflow(INSTALL, **kwargs))


def steps(doc: Dict[str, Any]) -> List[Dict[str, Any]]:
    return doc["jobs"]["aws-scan"]["steps"]


def step(doc: Dict[str, Any], name: str) -> Dict[str, Any]:
    return next(s for s in steps(doc) if s["name"] == name)


def test_filters_are_exported() -> None:
    assert FilterModule().filters() == {"aws_scan_workflow": aws_scan_workflow,
                                        "aws_scan_workflow_document": aws_scan_workflow_document}


def test_triggers_and_permissions() -> None:
    doc = load(branches=["main", "release/*"])
    assert doc["on"] == {"push": {"branches": ["main", "release/*"]},
                         "pull_request": {"branches": ["main", "release/*"]},
                         "workflow_dispatch": {}}
    assert doc["permissions"] == {"contents": "read", "security-events": "write",
                                  "pull-requests": "read"}
    assert doc["jobs"]["aws-scan"]["runs-on"] == "ubuntu-latest"


def test_steps_in_order_with_pinned_majors() -> None:
    doc = load()
    assert [s["name"] for s in steps(doc)] == STEP_NAMES
    checkout = step(doc, "Check out the repository")
    assert checkout["uses"] == "actions/checkout@v6"
    assert checkout["with"]["fetch-depth"] == 0
    assert checkout["with"]["persist-credentials"] is False
    python = step(doc, "Set up Python")
    assert python["uses"] == "actions/setup-python@v6"
    assert python["with"] == {"python-version": "3.12"}
    upload = step(doc, "Upload the SARIF log to code scanning")
    assert upload["uses"] == "github/codeql-action/upload-sarif@v4"
    for s in steps(doc):
        if "uses" in s:
            action, version = s["uses"].split("@")
            assert version == ACTION_VERSIONS[action]


def test_versions_can_be_pinned() -> None:
    doc = load(versions={"actions/setup-python": "v5", "github/codeql-action/upload-sarif": "v3"})
    assert step(doc, "Set up Python")["uses"] == "actions/setup-python@v5"
    assert step(doc, "Upload the SARIF log to code scanning")["uses"] == \
        "github/codeql-action/upload-sarif@v3"


def test_installs_the_given_spec() -> None:
    install = step(load(), "Install the Hearth AWS scanner")
    assert install["run"] == 'python -m pip install --disable-pip-version-check "%s"' % INSTALL
    assert shlex.split(install["run"])[-1] == INSTALL


def test_scan_scope_comes_from_the_event_through_env() -> None:
    scan = step(load(), "Scan for AWS remnants")
    assert scan["id"] == "scan" and scan["shell"] == "bash"
    assert scan["env"] == {"EVENT_NAME": "${{ github.event_name }}",
                           "BASE_REF": "${{ github.base_ref }}"}
    assert 'scope=(--diff-base "origin/$BASE_REF")' in scan["run"]
    assert '--markdown "$GITHUB_STEP_SUMMARY"' in scan["run"]
    assert "--sarif aws-scan.sarif" in scan["run"]


def test_no_expression_inside_any_script() -> None:
    """Event values (branch names, titles) could inject shell code; they go through env."""
    doc = load(path="services/api", exclude=["vendor"], fail_on="fixable")
    for s in steps(doc):
        assert "${{" not in s.get("run", ""), s["name"]
    assert "head_ref" not in aws_scan_workflow(INSTALL)


def test_upload_runs_after_findings_too() -> None:
    upload = step(load(), "Upload the SARIF log to code scanning")
    assert upload["if"].startswith("always() && ")
    assert "hashFiles('aws-scan.sarif')" in upload["if"]
    assert upload["with"] == {"sarif_file": "aws-scan.sarif", "category": "hearth-aws-scan"}
    assert "continue-on-error" not in step(load(), "Scan for AWS remnants")


@pytest.mark.parametrize("fail_on", ["any", "fixable"])
def test_failure_step_honours_fail_on(fail_on: str) -> None:
    doc = load(fail_on=fail_on)
    assert "--fail-on %s " % fail_on in step(doc, "Scan for AWS remnants")["run"]
    last = steps(doc)[-1]
    assert last["name"] == "Fail when the scan found AWS remnants"
    assert last["if"] == "always() && steps.scan.outputs.status == '1'"
    assert last["run"].rstrip().endswith("exit 1")
    assert "--fail-on %s" % fail_on in last["run"]


def test_fail_on_never_only_reports() -> None:
    doc = load(fail_on="never")
    assert "--fail-on never " in step(doc, "Scan for AWS remnants")["run"]
    assert steps(doc)[-1]["name"] == "Upload the SARIF log to code scanning"


def test_without_code_scanning() -> None:
    doc = load(code_scanning=False)
    assert doc["permissions"] == {"contents": "read", "pull-requests": "read"}
    assert "Upload the SARIF log to code scanning" not in [s["name"] for s in steps(doc)]
    assert "code scanning" not in steps(doc)[-1]["run"]


def test_path_and_excludes_reach_the_command() -> None:
    run = step(load(path="services/api", exclude=["vendor", "third party"]),
               "Scan for AWS remnants")["run"]
    assert "--exclude vendor \\\n" in run and "--exclude 'third party' \\\n" in run
    assert '"${scope[@]}" \\\n  services/api || status=$?' in run


def test_rendered_yaml_has_the_header_and_block_scripts() -> None:
    text = aws_scan_workflow(INSTALL, header=HEADER)
    assert text.startswith(HEADER + "\n---\n")
    assert "run: |\n" in text
    assert "&id" not in text and "*id" not in text and "!!python" not in text
    assert yaml.safe_load(text) == aws_scan_workflow_document(INSTALL)


@pytest.mark.parametrize("kwargs,argument", [
    ({"install": None}, "install"),
    ({"install": ""}, "install"),
    ({"install": "hearth-aws-scan ==1.1"}, "install"),
    ({"install": "git+https://x/hearth\nrm -rf /"}, "install"),
    ({"install": 'git+https://x/hearth"; id; "'}, "install"),
    ({"install": "git+https://x/${{ github.head_ref }}"}, "install"),
    ({"fail_on": "all"}, "fail_on"),
    ({"fail_on": None}, "fail_on"),
    ({"branches": []}, "branches"),
    ({"branches": [""]}, "branches"),
    ({"path": ""}, "path"),
    ({"path": "/srv/app"}, "path"),
    ({"path": "../other"}, "path"),
    ({"path": "app/${{ github.head_ref }}"}, "path"),
    ({"exclude": ["a/b"]}, "exclude"),
    ({"exclude": [""]}, "exclude"),
    ({"exclude": {"vendor": True}}, "exclude"),
    ({"code_scanning": "yes"}, "code_scanning"),
    ({"versions": {"actions/checkout": "main"}}, "versions"),
    ({"versions": {"evil/action": "v1"}}, "versions"),
    ({"header": ["# x"]}, "header"),
])
def test_bad_arguments_name_the_argument(kwargs: Dict[str, Any], argument: str) -> None:
    arguments = {"install": INSTALL, **kwargs}
    with pytest.raises(AnsibleFilterError, match=r"^aws_scan_workflow: %s " % argument):
        aws_scan_workflow(**arguments)


class _Str(str):
    """A str subclass, as Ansible passes every string it loaded or templated."""


def test_str_and_list_subclasses_render() -> None:
    text = aws_scan_workflow(_Str(INSTALL), branches=[_Str("main")], path=_Str("app"),
                             exclude=[_Str("vendor")], fail_on=_Str("fixable"),
                             header=_Str("# Managed by Hearth"))
    assert "!!python" not in text
    assert "--fail-on fixable" in step(yaml.safe_load(text), "Scan for AWS remnants")["run"]


# --- GitHub's workflow schema -------------------------------------------------------------


def workflow_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(WORKFLOW_SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.mark.parametrize("kwargs", [{}, {"fail_on": "never"}, {"code_scanning": False},
                                    {"branches": ["main", "release/**"], "path": "app",
                                     "exclude": ["vendor"], "fail_on": "fixable"}])
def test_valid_against_the_workflow_schema(kwargs: Dict[str, Any]) -> None:
    errors = sorted(workflow_validator().iter_errors(load(**kwargs)), key=str)
    assert not errors, [e.message for e in errors]


def test_ghcr_workflow_is_valid_against_the_schema_too() -> None:
    errors = list(workflow_validator().iter_errors(yaml.safe_load(ghcr_workflow("ghcr.io/acme/api"))))
    assert not errors, [e.message for e in errors]


def test_the_schema_catches_a_broken_workflow() -> None:
    """The schema is strict enough to matter: a misspelt key in a step fails it."""
    doc = load()
    steps(doc)[0]["usees"] = steps(doc)[0].pop("uses")
    assert list(workflow_validator().iter_errors(doc))


# --- the scan step's script, run with bash against the real scanner -----------------------


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                    "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.fixture
def pull_request_checkout(tmp_path: Path) -> Path:
    """A checkout as actions/checkout leaves it for a pull request: origin/main and a change."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "requirements.txt").write_text("boto3==1.34.0\n")  # old remnant, not in the diff
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    (repo / "compose.yml").write_text(
        "services:\n  api:\n    image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api:v1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "change")
    return repo


def run_scan_step(repo: Path, tmp_path: Path, event: str, base_ref: str = "",
                  **kwargs: Any) -> subprocess.CompletedProcess:
    """Run the scan step as the runner would: bash -e, GITHUB_OUTPUT and a step summary."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    command = bin_dir / "hearth-aws-scan"
    command.write_text("#!/bin/sh\nexec %s -c 'import sys; from ansible_collections.hearth."
                       "platform.plugins.module_utils.aws_scan.cli import main; sys.exit(main())' "
                       '"$@"\n' % shlex.quote(sys.executable))
    command.chmod(0o755)
    script = tmp_path / "scan.sh"
    script.write_text(step(load(**kwargs), "Scan for AWS remnants")["run"])
    for name in ("output", "summary"):
        (tmp_path / name).write_text("")
    env = dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ["PATH"]),
               PYTHONPATH=str(ROOT / "collections"), EVENT_NAME=event, BASE_REF=base_ref,
               GITHUB_OUTPUT=str(tmp_path / "output"),
               GITHUB_STEP_SUMMARY=str(tmp_path / "summary"))
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.slow
def test_pull_request_scans_only_the_changed_files(pull_request_checkout: Path,
                                                   tmp_path: Path) -> None:
    run = run_scan_step(pull_request_checkout, tmp_path, "pull_request", "main")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "output").read_text() == "status=1\n"
    sarif = json.loads((pull_request_checkout / "aws-scan.sarif").read_text())
    paths = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
             for r in sarif["runs"][0]["results"]}
    assert paths == {"compose.yml"}
    assert "changed files" in (tmp_path / "summary").read_text()


@pytest.mark.slow
def test_push_scans_the_whole_tree(pull_request_checkout: Path, tmp_path: Path) -> None:
    run = run_scan_step(pull_request_checkout, tmp_path, "push", fail_on="never")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "output").read_text() == "status=0\n"
    sarif = json.loads((pull_request_checkout / "aws-scan.sarif").read_text())
    paths = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
             for r in sarif["runs"][0]["results"]}
    assert paths == {"compose.yml", "requirements.txt"}


@pytest.mark.slow
def test_a_hostile_base_ref_stays_data(pull_request_checkout: Path, tmp_path: Path) -> None:
    """A base ref that is shell code is only an unknown revision: the step fails with 2."""
    marker = tmp_path / "pwned"
    run = run_scan_step(pull_request_checkout, tmp_path, "pull_request",
                        "main$(touch %s)`touch %s`" % (marker, marker))
    assert run.returncode == 2, run.stderr
    assert (tmp_path / "output").read_text() == "status=2\n"
    assert not marker.exists()
    assert not (pull_request_checkout / "aws-scan.sarif").exists()


# --- playbooks/ci_workflow.yml ------------------------------------------------------------


def _playbook_env(tmp_path: Path) -> Dict[str, str]:
    """The repository's ansible.cfg, caches under tmp_path, no colour, no inherited ANSIBLE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "facts"))
    return env


def playbook(tmp_path: Path, checkout: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
               "playbooks/ci_workflow.yml", "-e", "ci_workflow_checkout=%s" % checkout, *extra]
    return subprocess.run(command, cwd=ROOT, env=_playbook_env(tmp_path), capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.mark.slow
def test_ci_workflow_playbook_writes_the_aws_scan_once(tmp_path: Path) -> None:
    checkout = tmp_path / "app"
    checkout.mkdir()
    options = ["-e", "ci_workflow_image=ghcr.io/acme/api", "-e", "ci_workflow_aws_scan=true",
               "-e", "ci_workflow_aws_scan_install=" + INSTALL,
               "-e", '{"ci_workflow_aws_scan_exclude": ["vendor"]}',
               "-e", "ci_workflow_aws_scan_fail_on=fixable"]
    first = playbook(tmp_path, checkout, *options)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "changed=3" in first.stdout  # directory, GHCR workflow, AWS scan workflow
    workflows = checkout / ".github" / "workflows"
    written = (workflows / "aws-scan.yml").read_text()
    assert written.startswith(HEADER + "\n---\n")
    doc = yaml.safe_load(written)
    assert doc == aws_scan_workflow_document(INSTALL, exclude=["vendor"], fail_on="fixable")
    assert not list(workflow_validator().iter_errors(doc))
    assert (workflows / "ghcr.yml").read_text().startswith(HEADER)

    second = playbook(tmp_path, checkout, *options)
    assert second.returncode == 0 and "changed=0" in second.stdout, second.stdout[-3000:]
    checked = playbook(tmp_path, checkout, *options, "--check", "--diff")
    assert checked.returncode == 0 and "changed=0" in checked.stdout, checked.stdout[-3000:]
    assert (workflows / "aws-scan.yml").read_text() == written


@pytest.mark.slow
def test_ci_workflow_playbook_needs_the_install_spec(tmp_path: Path) -> None:
    checkout = tmp_path / "app"
    checkout.mkdir()
    run = playbook(tmp_path, checkout, "-e", "ci_workflow_image=ghcr.io/acme/api",
                   "-e", "ci_workflow_aws_scan=true")
    assert run.returncode == 2, run.stdout[-3000:]
    assert "ci_workflow_aws_scan_install" in run.stdout
    assert not (checkout / ".github").exists()  # failed before anything was written


@pytest.mark.slow
def test_ci_workflow_playbook_writes_only_the_aws_scan(tmp_path: Path) -> None:
    checkout = tmp_path / "app"
    checkout.mkdir()
    run = playbook(tmp_path, checkout, "-e", "ci_workflow_ghcr=false",
                   "-e", "ci_workflow_aws_scan=true", "-e", "ci_workflow_aws_scan_install=" + INSTALL,
                   "-e", "ci_workflow_aws_scan_file=remnants.yaml")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert sorted(p.name for p in (checkout / ".github" / "workflows").iterdir()) == \
        ["remnants.yaml"]


def test_the_documented_workflow_is_what_the_filter_renders() -> None:
    """docs/vercel-ghcr.md shows the workflow written by hand; it must not drift from the filter."""
    text = (ROOT / "docs" / "vercel-ghcr.md").read_text()
    section = text.split("## The AWS scan in CI", 1)[1].split("\n## ", 1)[0]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    documented = yaml.safe_load(block)
    documented["on"] = documented.pop(True)  # YAML 1.1 reads a bare `on` key as true
    assert documented == aws_scan_workflow_document(INSTALL)
