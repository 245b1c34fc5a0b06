# -*- coding: utf-8 -*-
"""Scan one file's text: the prefilter, then every rule, then the guards on the edits.

The prefilter decides on raw bytes whether a file can hold any remnant at all; most files of
a real repository fail it and are never decoded. Dependency manifests and the few deployment
files recognised by name skip it, because a package such as ``chalice`` or ``zappa`` names no
AWS word.
"""
from __future__ import annotations

import re
from typing import Callable, List, Optional, Tuple

from .context import Context
from .files import MANIFESTS, file_role, is_manifest
from .model import Finding, Options
from .rules_ci import detect_actions, detect_cli, guard_cli_lines
from .rules_code import detect_imports
from .rules_credentials import detect_ids, detect_vars
from .rules_dependencies import detect_dependencies
from .rules_endpoints import (detect_databases, detect_ecr, detect_s3, has_import_os,
                              python_import_offset)
from .rules_iac import detect_deploy

# Lower-cased words at least one of which every content rule needs, and the access key
# prefixes (case-sensitive, like the rule). "amazon" is not among them: every rule that
# matches it (amazonaws.com, software.amazon.awssdk, com.amazonaws) also contains "aws".
PREFILTER_TOKENS = (b"aws", b"s3", b"boto")
RE_KEY_PREFIX = re.compile(rb"A(?:KIA|SIA|BIA|CCA)")

Rule = Callable[[Context], None]
RULES: Tuple[Rule, ...] = (detect_deploy, detect_dependencies, detect_ecr, detect_s3,
                           detect_databases, detect_ids, detect_vars, detect_imports,
                           detect_actions, detect_cli)


def might_contain_aws(data: bytes, name: str = "") -> bool:
    """The cheap prefilter: could any rule match in a file with these bytes and this name?"""
    if RE_KEY_PREFIX.search(data) is not None:
        return True
    low = data.lower()
    if b"aws" in low or b"s3" in low or b"boto" in low:
        return True
    return name.lower().endswith(".json") and b"containerdefinitions" in low


def needs_prefilter(relpath: str) -> bool:
    """False for files read whatever they contain (manifests, cdk.json, samconfig.toml).

    Called for every file of a tree, so the common case is two substring checks and a set
    lookup.
    """
    low = relpath.lower()
    if "requirements" in low or "constraints" in low:
        return not is_manifest(low.rsplit("/", 1)[-1], relpath)
    return low.rsplit("/", 1)[-1] not in MANIFESTS


def _guard_import_os(findings: List[Finding], text: str) -> None:
    """Python edits that need ``import os`` become manual when there is no safe place for it."""
    if any(f.needs_import_os for f in findings) and not has_import_os(text) and \
            python_import_offset(text) is None:
        for f in findings:
            if f.needs_import_os:
                f.make_manual()


def scan_text(text: str, relpath: str, opts: Optional[Options] = None) -> List[Finding]:
    """Every finding in one file's text, in order of position."""
    ctx = Context(text, relpath, file_role(relpath), opts or Options())
    for rule in RULES:
        rule(ctx)
    findings = ctx.findings
    if not findings:
        return findings
    _guard_import_os(findings, text)
    if any(f.fixable for f in findings):
        findings = guard_cli_lines(findings, ctx.lines)
    findings.sort(key=lambda f: (f.line, f.column, f.kind))
    return findings
