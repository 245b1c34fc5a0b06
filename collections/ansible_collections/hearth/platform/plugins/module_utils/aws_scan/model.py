# -*- coding: utf-8 -*-
"""The scanner's data: findings, the edits that fix them, walk statistics and settings.

Kept apart from the rules so the rules, the walker, the rewriter and the reports can all
import it without importing each other.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .kinds import KINDS

# Directories that hold vendored, generated or tool state, never the team's own source.
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".hearth", "node_modules", "bower_components", "vendor", ".venv",
    "venv", ".tox", ".nox", "dist", "build", "__pycache__", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".hypothesis", ".terraform", ".serverless", "cdk.out", ".aws-sam", ".next",
    ".nuxt", ".gradle", ".idea", "site-packages", ".eggs",
})
MAX_FILE_SIZE = 2 * 1024 * 1024
# What a GitHub user or organisation name may look like, and what ECR rewrites carry in its
# place until one is given (such an edit must not be written).
GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
OWNER_PLACEHOLDER = "<owner>"


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` (character offsets) with ``new``."""

    start: int
    end: int
    new: str


@dataclass
class Finding:
    """One AWS remnant; ``edit`` (or ``delete_file``) says how a fix rewrites it."""

    path: str
    line: int
    column: int
    kind: str
    evidence: str
    suggestion: str
    fixable: bool = False
    edit: Optional[Edit] = None
    delete_file: bool = False
    needs_import_os: bool = False
    action: str = "manual"

    @property
    def service(self) -> str:
        """The AWS service (or area) the kind belongs to."""
        return KINDS[self.kind].service

    def make_manual(self) -> None:
        """Leave this finding to a person: no edit is planned for it."""
        self.fixable, self.edit, self.needs_import_os = False, None, False
        self.delete_file, self.action = False, "manual"

    def to_dict(self) -> Dict[str, object]:
        """Plain data for JSON, SARIF and Ansible; never contains an unmasked secret."""
        return {"path": self.path, "line": self.line, "column": self.column,
                "kind": self.kind, "service": self.service, "evidence": self.evidence,
                "suggestion": self.suggestion, "fixable": self.fixable,
                "action": self.action}


@dataclass
class ScanStats:
    """What the walk saw; reported next to the findings."""

    files_scanned: int = 0
    bytes_scanned: int = 0
    files_matched: int = 0
    skipped_binary: int = 0
    skipped_large: int = 0
    skipped_dirs: int = 0
    skipped_symlinks: int = 0
    unreadable: int = 0

    def add(self, other: "ScanStats") -> None:
        """Fold another walker's counts into these (parallel scans)."""
        for name, value in other.__dict__.items():
            setattr(self, name, getattr(self, name) + value)

    def to_dict(self) -> Dict[str, int]:
        """Plain data for JSON and Ansible."""
        return dict(self.__dict__)


@dataclass
class FilePlan:
    """The new state of one file: ``after`` is None when the file is deleted."""

    path: str
    before: str
    after: Optional[str]
    findings: List[Finding] = field(default_factory=list)


@dataclass
class Options:
    """Scan settings.

    ``ghcr_owner`` names the GitHub owner ECR references become; ``skip_dirs`` the directory
    names never entered; ``max_file_size`` the largest file read; ``jobs`` how many processes
    share a tree walk (1: this process only).
    """

    ghcr_owner: str = ""
    skip_dirs: frozenset = SKIP_DIRS
    max_file_size: int = MAX_FILE_SIZE
    jobs: int = 1
