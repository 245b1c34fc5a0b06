# -*- coding: utf-8 -*-
"""``hearth-aws-scan``: the scanner as a command for CI, with no Ansible needed.

    hearth-aws-scan [--format json|markdown|sarif] [--diff-base REF] [PATH]

Exit status: 0 when nothing counts against the run (see ``--fail-on``), 1 when something
does, 2 for bad usage or a path that cannot be scanned. One format goes to standard output
(or ``--output``); ``--json``, ``--markdown`` and ``--sarif`` write more files in the same
run, so one scan feeds both a pull-request summary and GitHub code scanning.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .model import GITHUB_OWNER, MAX_FILE_SIZE, SKIP_DIRS, Options
from .report import TOOL_NAME, TOOL_VERSION, json_report, markdown, sarif
from .rewrite import backup_and_apply, default_backup_dir, needing_owner, plan_fixes
from .walk import changed_files, scan_paths, scan_tree

FORMATS = ("json", "markdown", "sarif")
MARKDOWN_ROWS = 200


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        prog=TOOL_NAME, description="Find AWS remnants in a checkout (ECR, S3, RDS, "
        "ElastiCache, keys, SDKs, IaC, CI) and say what Hearth replaces them with.")
    p.add_argument("path", nargs="?", default=".", help="checkout to scan (default: .)")
    p.add_argument("--format", choices=FORMATS, default="markdown",
                   help="what goes to standard output (default: markdown)")
    p.add_argument("--output", "-o", metavar="FILE", help="write --format here, not stdout")
    for fmt in FORMATS:
        p.add_argument(f"--{fmt}", metavar="FILE", dest=f"also_{fmt}",
                       help=f"also write the {fmt} report to FILE")
    p.add_argument("--sarif-base", metavar="DIR",
                   help="make SARIF paths relative to DIR (the repository root) instead of "
                        "PATH, for scans of a subdirectory")
    p.add_argument("--fail-on", choices=("any", "fixable", "never"), default="any",
                   help="exit 1 when any finding, a fixable one, or never (default: any)")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--diff-base", metavar="REF",
                       help="scan only files changed since REF (git diff REF...HEAD, plus "
                            "uncommitted and untracked files)")
    scope.add_argument("--files-from", metavar="FILE",
                       help="scan only the paths listed in FILE, one per line (- for stdin)")
    p.add_argument("--exclude", action="append", default=[], metavar="DIR",
                   help="another directory name to skip (repeatable)")
    p.add_argument("--max-file-size", type=int, default=MAX_FILE_SIZE, metavar="BYTES")
    p.add_argument("--jobs", "-j", type=int, default=0,
                   help="processes sharing a large tree (default 0: one per CPU)")
    p.add_argument("--fix", action="store_true",
                   help="rewrite the fixable findings, after copying each touched file under "
                        "--backup-dir")
    p.add_argument("--ghcr-owner", default="", help="GitHub owner ECR images move to (--fix)")
    p.add_argument("--backup-dir", metavar="DIR",
                   help="default: PATH/.hearth/purge-backup/<UTC timestamp>")
    p.add_argument("--version", action="version", version=f"{TOOL_NAME} {TOOL_VERSION}")
    return p


def _usage_errors(args: argparse.Namespace) -> List[str]:
    errors = []
    if not os.path.isdir(args.path):
        errors.append(f"PATH must be an existing directory, got {args.path!r}")
    if args.max_file_size <= 0:
        errors.append("--max-file-size must be a positive number of bytes")
    if args.jobs < 0:
        errors.append("--jobs must be 0 (one per CPU) or more")
    if args.sarif_base and os.path.isdir(args.path):
        base, root = os.path.realpath(args.sarif_base), os.path.realpath(args.path)
        if os.path.commonpath([base, root]) != base:
            errors.append(f"--sarif-base must be PATH or a directory above it, got "
                          f"{args.sarif_base!r}")
    if args.ghcr_owner and not GITHUB_OWNER.match(args.ghcr_owner):
        errors.append("--ghcr-owner must be a GitHub user or organisation name (letters, "
                      f"digits, single hyphens, at most 39 characters), got {args.ghcr_owner!r}")
    bad = [e for e in args.exclude if not e or "/" in e]
    if bad:
        errors.append(f"--exclude takes directory names (no slashes), got {bad!r}")
    return errors


def _listed(source: str) -> List[str]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def render(fmt: str, doc: Dict[str, Any], root: str, sarif_base: Optional[str] = None) -> str:
    """One report as text; SARIF paths are relative to ``sarif_base`` when it is given."""
    findings = doc["findings"]
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    if fmt == "sarif":
        base = os.path.realpath(sarif_base or root)
        prefix = os.path.relpath(os.path.realpath(root), base).replace(os.sep, "/")
        if prefix != ".":
            findings = [dict(f, path=f"{prefix}/{f['path']}") for f in findings]
        uri = Path(base).as_uri().rstrip("/") + "/"
        return json.dumps(sarif(findings, uri), indent=2) + "\n"
    title = "AWS remnants" + (" in the changed files" if "scanned_paths" in doc else "")
    return markdown(findings, title, applied=doc.get("applied"), limit=MARKDOWN_ROWS) + "\n"


def _fix(root: str, findings: List[Any], opts: Options, backup: Optional[str]
         ) -> Dict[str, Any]:
    plans = plan_fixes(root, findings, opts)
    if not plans:
        return {"changed_files": [], "deleted_files": [], "backup_dir": ""}
    backup = backup or default_backup_dir(root)
    manifest = backup_and_apply(root, plans, backup)
    return {"changed_files": manifest["changed"], "deleted_files": manifest["deleted"],
            "backup_dir": backup}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command; returns the exit status."""
    args = parser().parse_args(argv)
    errors = _usage_errors(args)
    if errors:
        for error in errors:
            print(f"{TOOL_NAME}: {error}", file=sys.stderr)
        return 2
    root = os.path.abspath(args.path)
    opts = Options(ghcr_owner=args.ghcr_owner, skip_dirs=frozenset(SKIP_DIRS | set(args.exclude)),
                   max_file_size=args.max_file_size, jobs=args.jobs)
    try:
        paths: Optional[List[str]] = None
        if args.diff_base:
            paths = changed_files(root, args.diff_base)
        elif args.files_from:
            paths = _listed(args.files_from)
        if paths is None:
            findings, stats = scan_tree(root, opts)
        else:
            findings, stats = scan_paths(root, paths, opts)
        if args.fix and needing_owner(findings):
            print(f"{TOOL_NAME}: --ghcr-owner is needed to rewrite ECR references",
                  file=sys.stderr)
            return 2
        applied = _fix(root, findings, opts, args.backup_dir) if args.fix else None
    except (OSError, ValueError) as exc:
        print(f"{TOOL_NAME}: {exc}", file=sys.stderr)
        return 2
    dicts = [f.to_dict() for f in findings]
    doc = json_report(dicts, stats.to_dict(), root, paths)
    if applied is not None:
        doc["applied"] = applied
    outputs = [(args.format, args.output)] + [(fmt, getattr(args, f"also_{fmt}"))
                                              for fmt in FORMATS if getattr(args, f"also_{fmt}")]
    try:
        for fmt, target in outputs:
            text = render(fmt, doc, root, args.sarif_base)
            if target:
                Path(target).write_text(text, encoding="utf-8", errors="surrogateescape")
            else:
                sys.stdout.write(text.encode("utf-8", "surrogateescape").decode(
                    "utf-8", "replace"))
    except (OSError, ValueError) as exc:  # an unwritable report is not a finding: status 2
        print(f"{TOOL_NAME}: cannot write the report: {exc}", file=sys.stderr)
        return 2
    counted = [f for f in findings if args.fail_on == "any" or
               (args.fail_on == "fixable" and f.fixable)]
    if applied is not None:
        counted = [f for f in counted if not f.fixable]
    return 1 if counted and args.fail_on != "never" else 0


if __name__ == "__main__":
    sys.exit(main())
