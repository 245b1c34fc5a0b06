# -*- coding: utf-8 -*-
"""Plan and apply the fixes: new file contents from the findings' edits, written after a backup.

A rewrite is planned in memory for every file first (so check mode and ``--diff`` show
exactly what would be written) and only then applied, each file atomically, after a copy of
it is kept. Nothing is written through a symbolic link.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import time
from typing import Dict, List, Optional, Sequence

from .model import OWNER_PLACEHOLDER, Edit, FilePlan, Finding, Options
from .rules_endpoints import has_import_os, python_import_offset
from .scan import scan_text

RE_JSON_DANGLING_COMMA = re.compile(r",(\s*\n\s*[}\]])")


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """Apply non-overlapping edits (overlaps: the first one wins)."""
    out: List[str] = []
    cursor = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if edit.start < cursor:
            continue
        out.append(text[cursor:edit.start])
        out.append(edit.new)
        cursor = edit.end
    out.append(text[cursor:])
    return "".join(out)


def _plan_once(text: str, findings: Sequence[Finding], path: str) -> Optional[str]:
    """One pass of :func:`plan_file`: apply the non-overlapping edits of ``findings``."""
    fixable = [f for f in findings if f.fixable]
    if any(f.delete_file for f in fixable):
        return None
    edits = [f.edit for f in fixable if f.edit is not None]
    if any(f.needs_import_os for f in fixable) and not has_import_os(text):
        offset = python_import_offset(text)  # scan_text made sure there is one
        if offset is not None:
            edits.append(Edit(offset, offset, "import os\n"))
    after = apply_edits(text, edits)
    if path.endswith(".json") and any(f.action == "remove-line" for f in fixable):
        # A removed last member leaves "x": 1,\n} behind; valid JSON never has ",}" outside
        # a string, and a JSON string cannot hold a raw newline, so this only mends our edit.
        after = RE_JSON_DANGLING_COMMA.sub(r"\1", after)
    return after


def plan_file(text: str, findings: Sequence[Finding], path: str = "",
              opts: Optional[Options] = None) -> Optional[str]:
    """New contents for one file, or None when it is to be deleted.

    Overlapping matches (an ECR reference inside an S3 URL's path, say) keep only the first
    edit in one pass, so passes repeat, rescanning in between, until nothing fixable is left:
    a later run of the purge then has nothing to do.
    """
    after = _plan_once(text, findings, path)
    for _ in range(4):
        if after is None or after == text:
            break
        again = [f for f in scan_text(after, path, opts) if f.fixable]
        if not again:
            break
        text, after = after, _plan_once(after, again, path)
    return after


def plan_fixes(root: str, findings: Sequence[Finding],
               opts: Optional[Options] = None) -> List[FilePlan]:
    """One plan per file that has fixable findings, in path order."""
    by_path: Dict[str, List[Finding]] = {}
    for finding in findings:
        if finding.fixable:
            by_path.setdefault(finding.path, []).append(finding)
    plans = []
    for rel in sorted(by_path):
        with open(os.path.join(root, rel), "rb") as handle:
            before = handle.read().decode("utf-8", errors="surrogateescape")
        after = plan_file(before, by_path[rel], rel, opts)
        if after != before:
            plans.append(FilePlan(rel, before, after, by_path[rel]))
    return plans


def needing_owner(findings: Sequence[Finding]) -> List[Finding]:
    """Fixable findings whose edit still carries the owner placeholder: they cannot be
    written until a GitHub owner is given."""
    return [f for f in findings
            if f.fixable and f.edit is not None and OWNER_PLACEHOLDER in f.edit.new]


def default_backup_dir(root: str) -> str:
    """``<root>/.hearth/purge-backup/<UTC timestamp>``: where a rewrite keeps its copies."""
    return os.path.join(root, ".hearth", "purge-backup",
                        time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))


def _write_atomically(src: str, content: str) -> None:
    mode = stat.S_IMODE(os.stat(src).st_mode)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(src), prefix=".hearth-purge-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode("utf-8", errors="surrogateescape"))
        os.chmod(tmp, mode)
        os.replace(tmp, src)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def backup_and_apply(root: str, plans: Sequence[FilePlan], backup_dir: str) -> Dict[str, object]:
    """Copy every touched file under ``backup_dir/files``, then write or delete it atomically.

    ``backup_dir/MANIFEST.json`` lists what was changed and deleted; copying ``files/`` back
    over the checkout undoes the rewrite.
    """
    root = os.path.abspath(root)
    changed: List[str] = []
    deleted: List[str] = []
    os.makedirs(backup_dir, mode=0o700, exist_ok=True)
    for plan in plans:
        src = os.path.join(root, plan.path)
        if os.path.islink(src):
            raise ValueError(f"refusing to write through a symbolic link: {plan.path}")
        dst = os.path.join(backup_dir, "files", plan.path)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)
        if plan.after is None:
            os.unlink(src)
            deleted.append(plan.path)
            continue
        _write_atomically(src, plan.after)
        changed.append(plan.path)
    manifest: Dict[str, object] = {"changed": changed, "deleted": deleted}
    with open(os.path.join(backup_dir, "MANIFEST.json"), "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True)
    return manifest
