# -*- coding: utf-8 -*-
"""The GitHub Actions workflow that runs ``hearth-aws-scan`` on a team's pull requests.

``aws_scan_workflow`` is the sibling of ``ghcr_workflow``: it renders the workflow as YAML
text with the same dumper and a managed-by header, and ``aws_scan_workflow_document`` returns
it as data. Both are pure functions: they read no files and call no network.

The workflow installs the scanner with pip (it needs only the standard library), scans the
files a pull request changes (``--diff-base origin/<base branch>``) or the whole tree on a
push, writes the Markdown report to the job summary and a SARIF log for code scanning, uploads
that log even when the scan found something, and only then fails the job as ``fail_on`` says.

Values from the event (the base branch, the event name) reach the script through ``env:``,
never through ``${{ }}`` inside ``run:``, so a branch name cannot inject shell code. The
values the operator passes are checked here and quoted for the shell.
"""
from __future__ import annotations

import re
import shlex
from typing import Any, Dict, List, Optional, Sequence

from ansible.errors import AnsibleFilterError
from ansible_collections.hearth.platform.plugins.filter.ghcr import (
    ACTION_VERSIONS as GHCR_ACTION_VERSIONS, render_workflow)

FILTER = "aws_scan_workflow"
COMMAND = "hearth-aws-scan"
SARIF_FILE = "aws-scan.sarif"
SARIF_CATEGORY = "hearth-aws-scan"
PYTHON_VERSION = "3.12"
FAIL_ON = ("any", "fixable", "never")
# Current major versions of the actions the workflow uses (Node 24 runtimes, as in
# ghcr_workflow, whose checkout version this one follows). CodeQL Action v3 is deprecated in
# December 2026 and setup-python v5 runs on Node 20; pass versions= to hold one back.
ACTION_VERSIONS: Dict[str, str] = {
    "actions/checkout": GHCR_ACTION_VERSIONS["actions/checkout"],
    "actions/setup-python": "v6",
    "github/codeql-action/upload-sarif": "v4",
}
# Characters that would end or expand a double-quoted shell word (or open a ${{ }} expression).
_SHELL_SPECIAL = frozenset('"\'`$\\')
_ACTION_REF = re.compile(r"^v[0-9]+(?:\.[0-9]+){0,2}$|^[0-9a-f]{40}$")


def _fail(argument: str, reason: str, value: Any) -> AnsibleFilterError:
    """The one error shape: the filter, the argument at fault, what is wrong, the value."""
    return AnsibleFilterError("%s: %s %s, got %r" % (FILTER, argument, reason, value))


def _install_spec(install: Any) -> str:
    """A pip requirement or URL that can sit inside double quotes in a shell script."""
    if not isinstance(install, str) or not install.strip():
        raise _fail("install", "must be a non-empty pip install spec (for example "
                    "git+https://github.com/<org>/hearth@v1.1.0)", install)
    if any(ch.isspace() for ch in install):
        raise _fail("install", "must not contain whitespace or newlines", install)
    if _SHELL_SPECIAL.intersection(install):
        raise _fail("install", "must not contain quotes, backslashes or '$'", install)
    return str(install)


def _expression_free(value: str, argument: str) -> str:
    """Refuse text that GitHub would evaluate as an expression before the shell sees it."""
    if "${{" in value:
        raise _fail(argument, "must not contain a ${{ }} expression", value)
    return value


def _scan_path(path: Any) -> str:
    """A directory inside the checkout: relative, no '..', one line."""
    if not isinstance(path, str) or not path.strip():
        raise _fail("path", "must be a non-empty directory relative to the checkout", path)
    if "\n" in path or "\r" in path:
        raise _fail("path", "must be one line", path)
    parts = path.replace("\\", "/").split("/")
    if path.startswith("/") or ".." in parts:
        raise _fail("path", "must be relative to the checkout and stay inside it", path)
    return _expression_free(str(path), "path")


def _branches(branches: Any) -> List[str]:
    """One branch pattern or a non-empty list of them."""
    items = [branches] if isinstance(branches, str) else branches
    if not isinstance(items, (list, tuple)) or not items or \
            not all(isinstance(i, str) and i.strip() and "\n" not in i for i in items):
        raise _fail("branches", "must be a non-empty list of branch names or patterns", branches)
    return [str(i) for i in items]


def _excludes(exclude: Any) -> List[str]:
    """Directory names (no slashes) the scanner skips besides its own list."""
    items = [exclude] if isinstance(exclude, str) else exclude
    if items is None:
        return []
    if not isinstance(items, (list, tuple)):
        raise _fail("exclude", "must be a list of directory names", exclude)
    for item in items:
        if not isinstance(item, str) or not item.strip() or "/" in item or "\n" in item:
            raise _fail("exclude", "must be a list of directory names (no slashes, not empty)",
                        exclude)
        _expression_free(item, "exclude")
    return [str(i) for i in items]


def _fail_on(fail_on: Any) -> str:
    """The scanner's --fail-on policy: which findings fail the job."""
    if fail_on not in FAIL_ON:
        raise _fail("fail_on", "must be one of %s" % ", ".join(FAIL_ON), fail_on)
    return str(fail_on)


def _versions(versions: Optional[Dict[str, str]]) -> Dict[str, str]:
    """ACTION_VERSIONS with overrides: known actions, tags like v5 or a full commit SHA."""
    uses = dict(ACTION_VERSIONS)
    for action, version in (versions or {}).items():
        if action not in ACTION_VERSIONS or not isinstance(version, str) or \
                not _ACTION_REF.match(version):
            raise _fail("versions", "must map %s to a tag such as v5 or a commit SHA"
                        % ", ".join(sorted(ACTION_VERSIONS)), versions)
        uses[str(action)] = str(version)
    return uses


def _scan_script(path: str, exclude: Sequence[str], fail_on: str) -> str:
    """The scan step's bash: the scope from the event, the exit status kept for later steps.

    Status 0 (nothing counts) and 1 (findings that count under ``--fail-on``) let the job go on
    to the upload; anything else (2: bad usage, an unknown base ref) fails the step at once.
    """
    options = ["--fail-on " + fail_on, '--markdown "$GITHUB_STEP_SUMMARY"',
               "--sarif " + SARIF_FILE]
    options += ["--exclude " + shlex.quote(name) for name in exclude]
    if path != ".":  # code scanning wants paths from the repository root
        options.append("--sarif-base .")
    command = " \\\n  ".join([COMMAND] + options + ['"${scope[@]}"', shlex.quote(path)])
    return "\n".join([
        "scope=()",
        'if [ "$EVENT_NAME" = pull_request ]; then',
        '  scope=(--diff-base "origin/$BASE_REF")',
        "fi",
        "status=0",
        command + " || status=$?",
        'echo "status=$status" >> "$GITHUB_OUTPUT"',
        'if [ "$status" -gt 1 ]; then exit "$status"; fi',
        "",
    ])


def aws_scan_workflow_document(install: Any, branches: Any = ("main",), path: Any = ".",
                               exclude: Any = (), fail_on: Any = "any",
                               code_scanning: bool = True,
                               versions: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """The workflow as data: scan changed files on pull requests, the whole tree on pushes."""
    spec = _install_spec(install)
    branch_list = _branches(list(branches) if isinstance(branches, tuple) else branches)
    scan_path = _scan_path(path)
    excludes = _excludes(list(exclude) if isinstance(exclude, tuple) else exclude)
    policy = _fail_on(fail_on)
    if not isinstance(code_scanning, bool):
        raise _fail("code_scanning", "must be true or false", code_scanning)
    uses = _versions(versions)
    permissions = {"contents": "read", "pull-requests": "read"}
    if code_scanning:
        permissions["security-events"] = "write"
    steps: List[Dict[str, Any]] = [
        # Full history: --diff-base needs the base branch and the merge base.
        {"name": "Check out the repository",
         "uses": "actions/checkout@" + uses["actions/checkout"],
         "with": {"fetch-depth": 0, "persist-credentials": False}},
        {"name": "Set up Python",
         "uses": "actions/setup-python@" + uses["actions/setup-python"],
         "with": {"python-version": PYTHON_VERSION}},
        {"name": "Install the Hearth AWS scanner",
         "run": 'python -m pip install --disable-pip-version-check "%s"' % spec},
        {"name": "Scan for AWS remnants", "id": "scan", "shell": "bash",
         "env": {"EVENT_NAME": "${{ github.event_name }}", "BASE_REF": "${{ github.base_ref }}"},
         "run": _scan_script(scan_path, excludes, policy)},
    ]
    if code_scanning:
        # Also after findings (status 1); skipped when the scan wrote no log, and on pull
        # requests from forks, whose token cannot write security events.
        steps.append(
            {"name": "Upload the SARIF log to code scanning",
             "if": "always() && hashFiles('%s') != '' && (github.event_name != 'pull_request'"
                   " || !github.event.pull_request.head.repo.fork)" % SARIF_FILE,
             "uses": "github/codeql-action/upload-sarif@" + uses["github/codeql-action/upload-sarif"],
             "with": {"sarif_file": SARIF_FILE, "category": SARIF_CATEGORY}})
    if policy != "never":
        steps.append(
            {"name": "Fail when the scan found AWS remnants",
             "if": "always() && steps.scan.outputs.status == '1'",
             "shell": "bash",
             "run": 'echo "::error title=AWS remnants::%s found AWS remnants (--fail-on %s); '
                    'see the job summary%s."\nexit 1\n'
                    % (COMMAND, policy, " and the code scanning alerts" if code_scanning else "")})
    return {
        "name": "Hearth AWS scan",
        "on": {
            "push": {"branches": branch_list},
            "pull_request": {"branches": branch_list},
            "workflow_dispatch": {},
        },
        # Read the code and the pull request, write code scanning alerts; nothing else.
        "permissions": permissions,
        "concurrency": {"group": "${{ github.workflow }}-${{ github.ref }}",
                        "cancel-in-progress": True},
        "jobs": {
            "aws-scan": {
                "name": "AWS remnants",
                "runs-on": "ubuntu-latest",
                "timeout-minutes": 15,
                "steps": steps,
            },
        },
    }


def aws_scan_workflow(install: Any, branches: Any = ("main",), path: Any = ".",
                      exclude: Any = (), fail_on: Any = "any", code_scanning: bool = True,
                      versions: Optional[Dict[str, str]] = None, header: str = "") -> str:
    """Render the AWS scan workflow as YAML text (``header`` is prepended as is)."""
    if not isinstance(header, str):
        raise _fail("header", "must be a string", header)
    document = aws_scan_workflow_document(install, branches=branches, path=path,
                                          exclude=exclude, fail_on=fail_on,
                                          code_scanning=code_scanning, versions=versions)
    return render_workflow(document, header)


class FilterModule:
    """The AWS scan workflow for a team's repository."""

    def filters(self) -> Dict[str, Any]:
        return {"aws_scan_workflow": aws_scan_workflow,
                "aws_scan_workflow_document": aws_scan_workflow_document}
