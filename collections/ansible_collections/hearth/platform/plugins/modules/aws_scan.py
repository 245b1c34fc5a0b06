#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: find AWS remnants in a checkout and, on request, rewrite the fixable ones."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: aws_scan
short_description: Find AWS remnants in an application checkout and rewrite the fixable ones
description:
  - Walks a local repository and reports every reference to AWS with file, line, kind,
    masked evidence, a suggestion and whether Hearth can rewrite it.
  - Kinds cover ECR images and logins, S3 URIs and endpoints, RDS and ElastiCache endpoints,
    ARNs, access keys (masked), C(AWS_*) variables in env files and their templates, compose
    and workflow files, SDK imports in Python, JavaScript/TypeScript, Go and Java, SDK and tool
    dependencies, Terraform (with modules and state kept in S3/DynamoDB), Pulumi, CDK,
    CloudFormation/SAM, Serverless Framework files (found by content), ECS task definitions,
    C(aws-actions/*) workflow steps and AWS CLI calls in scripts.
  - The same library is the C(hearth-aws-scan) command (C(pip install .) from the Hearth
    repository), which writes JSON, Markdown and SARIF for a team's CI.
  - Vendored and generated directories, binary files, files over O(max_file_size) and every
    symbolic link are skipped.
  - With O(apply=true) fixable findings are rewritten (ECR to GHCR, endpoints to environment
    variable references, tool dependencies removed, AWS-only deployment files deleted) after
    every touched file is copied under O(backup_dir). Supports check mode and diff mode.
version_added: "1.0.0"
author: Hearth maintainers
options:
  path:
    description: Root of the checkout to scan.
    type: path
    required: true
  apply:
    description: Rewrite the fixable findings (otherwise only report).
    type: bool
    default: false
  ghcr_owner:
    description:
      - GitHub user or organisation that owns the GHCR images ECR references become.
      - Required when O(apply=true) and there are ECR findings.
    type: str
    default: ""
  exclude:
    description: Directory names to skip in addition to the built-in list (.git, node_modules, ...).
    type: list
    elements: str
    default: []
  max_file_size:
    description: Files larger than this many bytes are skipped.
    type: int
    default: 2097152
  backup_dir:
    description:
      - Where copies of touched files go (under C(files/), next to C(MANIFEST.json)) before a rewrite.
      - Defaults to C(<path>/.hearth/purge-backup/<UTC timestamp>).
    type: path
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - The C(.hearth) directory (reports and backups) is never scanned.
"""

EXAMPLES = r"""
- name: Report AWS remnants in a checkout
  hearth.platform.aws_scan:
    path: /src/acme-api
  register: scan

- name: Rewrite what has a mechanical replacement
  hearth.platform.aws_scan:
    path: /src/acme-api
    apply: true
    ghcr_owner: acme
"""

RETURN = r"""
findings:
  description: Every finding of the scan (before any rewrite).
  returned: always
  type: list
  elements: dict
  sample:
    - path: Dockerfile
      line: 1
      column: 6
      kind: ecr-image
      service: ecr
      evidence: 123456789012.dkr.ecr.us-east-1.amazonaws.com/api:1.2
      suggestion: ghcr.io/acme/api:1.2
      fixable: true
      action: rewrite
summary:
  description: Counts of the findings (total, fixable, manual, files, by_kind, by_service).
  returned: always
  type: dict
stats:
  description: What the walk saw (files and bytes scanned, files skipped and why).
  returned: always
  type: dict
changed_files:
  description: Files rewritten (or that would be, in check mode).
  returned: always
  type: list
  elements: str
deleted_files:
  description: Files deleted (or that would be, in check mode).
  returned: always
  type: list
  elements: str
backup_dir:
  description: Directory holding copies of every touched file; empty when nothing was written.
  returned: always
  type: str
summary_after:
  description: Summary of a rescan after the rewrite; its C(fixable) is 0 on success.
  returned: when apply is true and not in check mode
  type: dict
"""

import os
from typing import Any, Dict, List

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hearth.platform.plugins.module_utils.aws_scan import (
    GITHUB_OWNER, SKIP_DIRS, Options, backup_and_apply, default_backup_dir, needing_owner,
    plan_fixes, redact, scan_tree, summarize)

ARGUMENT_SPEC: Dict[str, Any] = {
    "path": {"type": "path", "required": True},
    "apply": {"type": "bool", "default": False},
    "ghcr_owner": {"type": "str", "default": ""},
    "exclude": {"type": "list", "elements": "str", "default": []},
    "max_file_size": {"type": "int", "default": 2 * 1024 * 1024},
    "backup_dir": {"type": "path"},
}


def validate(params: Dict[str, Any]) -> List[str]:
    """Messages for bad input, each naming the option and the expected shape."""
    errors = []
    if not os.path.isdir(params["path"]):
        errors.append(f"path must be an existing directory, got {params['path']!r}")
    owner = params["ghcr_owner"]
    if owner and not GITHUB_OWNER.match(owner):
        errors.append("ghcr_owner must be a GitHub user or organisation name (letters, digits, "
                      f"single hyphens, at most 39 characters), got {owner!r}")
    if params["max_file_size"] <= 0:
        errors.append("max_file_size must be a positive number of bytes")
    bad = [e for e in params["exclude"] if not e or "/" in e]
    if bad:
        errors.append(f"exclude must list directory names (no slashes), got {bad!r}")
    return errors


def run(module: AnsibleModule) -> Dict[str, Any]:
    """Scan, then (when asked) plan, back up and apply the rewrites."""
    params = module.params
    root = os.path.abspath(params["path"])
    opts = Options(ghcr_owner=params["ghcr_owner"],
                   skip_dirs=frozenset(SKIP_DIRS | set(params["exclude"])),
                   max_file_size=params["max_file_size"])
    findings, stats = scan_tree(root, opts)
    dicts = [f.to_dict() for f in findings]
    result: Dict[str, Any] = {"changed": False, "findings": dicts, "summary": summarize(dicts),
                              "stats": stats.to_dict(), "changed_files": [],
                              "deleted_files": [], "backup_dir": ""}
    if not params["apply"]:
        return result
    needs_owner = needing_owner(findings)
    if needs_owner:
        module.fail_json(msg="ghcr_owner must be set (the GitHub user or organisation that owns "
                             f"the GHCR images) to rewrite {len(needs_owner)} ECR reference(s)",
                         **result)
    plans = plan_fixes(root, findings, opts)
    result["changed"] = bool(plans)
    result["changed_files"] = [p.path for p in plans if p.after is not None]
    result["deleted_files"] = [p.path for p in plans if p.after is None]
    if module._diff:
        # Secrets in the unchanged context lines are masked: a diff is shown on screen.
        result["diff"] = [{"before_header": p.path, "after_header": p.path,
                           "before": redact(p.before), "after": redact(p.after or "")}
                          for p in plans]
    if module.check_mode or not plans:
        return result
    backup = params["backup_dir"] or default_backup_dir(root)
    backup_and_apply(root, plans, backup)
    result["backup_dir"] = backup
    after, _ = scan_tree(root, opts)
    result["summary_after"] = summarize(f.to_dict() for f in after)
    return result


def main() -> None:
    """Module entry point."""
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    errors = validate(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors))
    try:
        module.exit_json(**run(module))
    except (OSError, ValueError) as exc:
        module.fail_json(msg=f"aws_scan failed on {module.params['path']}: {exc}")


if __name__ == "__main__":
    main()
