# -*- coding: utf-8 -*-
"""Find AWS remnants in an application checkout and plan their mechanical replacements.

The scanner walks a repository and reports every reference to AWS that Hearth replaces: ECR
images and logins, S3 / RDS / ElastiCache endpoints, ARNs, access keys, ``AWS_*`` variables,
SDK imports and dependencies, infrastructure as code (Terraform with its state, Pulumi, CDK,
CloudFormation, Serverless, ECS) and CI steps. Each finding carries a stable ``kind``, masked
``evidence``, a ``suggestion`` and a ``fixable`` flag; fixable ones carry an edit, which the
rewriter turns into new file contents written after a backup.

The package is split by concern: ``kinds`` (ids and advice), ``files`` (what a path is),
``rules_*`` (the patterns of each family of kinds), ``scan`` (one file), ``walk`` (a tree or a
diff), ``rewrite`` (fixes), ``report`` (JSON, Markdown, SARIF) and ``cli``. Only the standard
library is used, so the Ansible module, the filters, the ``hearth-aws-scan`` command and the
benchmark all run the same code; this file re-exports what they use.
"""
from __future__ import annotations

from .files import FileRole, file_role, is_env_file
from .kinds import KINDS, Kind
from .model import (GITHUB_OWNER, MAX_FILE_SIZE, SKIP_DIRS, Edit, FilePlan, Finding, Options,
                    ScanStats)
from .report import json_report, markdown, sarif, summarize
from .rewrite import (apply_edits, backup_and_apply, default_backup_dir, needing_owner,
                      plan_file, plan_fixes)
from .rules_dependencies import classify_dependency, normalize_dependency
from .rules_endpoints import is_ecr_host
from .scan import PREFILTER_TOKENS, might_contain_aws, scan_text
from .text import mask_secret, mask_userinfo, redact
from .walk import changed_files, iter_files, scan_paths, scan_tree

__all__ = [
    "Edit", "FilePlan", "FileRole", "Finding", "GITHUB_OWNER", "KINDS", "Kind", "MAX_FILE_SIZE",
    "Options", "default_backup_dir", "needing_owner",
    "PREFILTER_TOKENS", "SKIP_DIRS", "ScanStats", "apply_edits", "backup_and_apply",
    "changed_files", "classify_dependency", "file_role", "is_ecr_host", "is_env_file",
    "iter_files",
    "json_report", "markdown", "mask_secret", "mask_userinfo", "might_contain_aws",
    "normalize_dependency", "plan_file", "plan_fixes", "redact", "sarif", "scan_paths",
    "scan_text", "scan_tree", "summarize",
]
