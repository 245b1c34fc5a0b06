# -*- coding: utf-8 -*-
"""Reports over findings (as plain dicts): counts, JSON, Markdown for people, SARIF for tools.

SARIF 2.1.0 is what GitHub code scanning reads: each kind is a rule (``ruleId`` = kind), each
finding a result at its file and line, relative to the scanned root (``%SRCROOT%``), so the
alert lands on the pull request's diff. Evidence is already masked when it reaches here.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence
from urllib.parse import quote

from .kinds import KINDS

TOOL_NAME = "hearth-aws-scan"
TOOL_VERSION = "1.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
Findings = Sequence[Mapping[str, Any]]


def summarize(findings: Iterable[Mapping[str, Any]]) -> Dict[str, Any]:
    """Counts by kind and service, and how many are fixable."""
    by_kind: Dict[str, int] = {}
    by_service: Dict[str, int] = {}
    files = set()
    total = fixable = 0
    for f in findings:
        total += 1
        fixable += bool(f["fixable"])
        by_kind[str(f["kind"])] = by_kind.get(str(f["kind"]), 0) + 1
        by_service[str(f["service"])] = by_service.get(str(f["service"]), 0) + 1
        files.add(f["path"])
    return {"total": total, "fixable": fixable, "manual": total - fixable,
            "files": len(files), "by_kind": dict(sorted(by_kind.items())),
            "by_service": dict(sorted(by_service.items()))}


def json_report(findings: Findings, stats: Mapping[str, int], root: str = ".",
                files: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """The JSON document: tool, root, summary, walk statistics and every finding.

    ``files`` is set when only a diff's files were scanned.
    """
    doc: Dict[str, Any] = {"tool": {"name": TOOL_NAME, "version": TOOL_VERSION},
                           "root": root, "summary": summarize(findings),
                           "stats": dict(stats), "findings": [dict(f) for f in findings]}
    if files is not None:
        doc["scanned_paths"] = list(files)
    return doc


def _cell(value: Any) -> str:
    """A Markdown table cell: pipes escaped, newlines flattened, backticks kept apart."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return text.replace("`", "'")


def _table(rows: Findings, limit: Optional[int]) -> List[str]:
    lines = ["| file | line | kind | evidence | suggestion |", "|---|---:|---|---|---|"]
    shown = rows if limit is None else rows[:limit]
    for f in shown:
        lines.append(f"| {_cell(f['path'])} | {f.get('line', '')} | {_cell(f['kind'])} | "
                     f"`{_cell(f.get('evidence', ''))}` | {_cell(f.get('suggestion', ''))} |")
    if len(shown) < len(rows):
        lines.append(f"| … | | | {len(rows) - len(shown)} more: see the JSON or SARIF report "
                     "| |")
    return lines


def markdown(findings: Findings, title: str = "AWS remnants",
             applied: Optional[Mapping[str, Any]] = None, limit: Optional[int] = None) -> str:
    """A Markdown report: counts by kind, then fixable and manual findings as tables.

    ``applied`` (the result of a rewrite) adds the files changed and deleted and the backup
    location; ``limit`` caps each table (a pull-request comment has a size limit).
    """
    summary = summarize(findings)
    out = [f"# {title}", "",
           f"{summary['total']} finding(s) in {summary['files']} file(s): "
           f"{summary['fixable']} fixable, {summary['manual']} for a person.", ""]
    if summary["by_kind"]:
        out += ["| kind | what | count |", "|---|---|---:|"]
        out += [f"| {k} | {KINDS[k].title if k in KINDS else ''} | {n} |"
                for k, n in summary["by_kind"].items()]
        out.append("")
    if applied:
        changed = list(applied.get("changed_files", []))
        deleted = list(applied.get("deleted_files", []))
        out += ["## Applied", "", f"Backup: `{applied.get('backup_dir') or '(none)'}`", ""]
        out += [f"- changed `{p}`" for p in changed] + [f"- deleted `{p}`" for p in deleted]
        out.append("")
    fixable = [f for f in findings if f["fixable"]]
    manual = [f for f in findings if not f["fixable"]]
    if fixable:
        out += ["## Fixable (mechanical rewrite)", ""] + _table(fixable, limit) + [""]
    if manual:
        out += ["## Needs a person", ""] + _table(manual, limit) + [""]
    return "\n".join(out)


def _rule(kind: str) -> Dict[str, Any]:
    info = KINDS[kind]
    return {"id": kind, "name": "".join(p.capitalize() for p in kind.split("-")),
            "shortDescription": {"text": info.title},
            "fullDescription": {"text": f"{info.title} ({info.service}): {info.advice}"},
            "help": {"text": info.advice, "markdown": info.advice},
            "defaultConfiguration": {"level": info.level},
            "properties": {"tags": ["aws", info.service]}}


def sarif(findings: Findings, root_uri: Optional[str] = None) -> Dict[str, Any]:
    """A SARIF 2.1.0 log with one run: a rule per kind, a result per finding.

    ``root_uri`` (a ``file://`` URI ending in ``/``) anchors ``%SRCROOT%``; GitHub needs only
    the relative paths, which are relative to the repository root when the scan ran there.
    """
    kinds = sorted(KINDS)
    index = {kind: i for i, kind in enumerate(kinds)}
    results = []
    seen: Dict[str, int] = {}
    for f in findings:
        kind = str(f["kind"])
        # Stable across edits elsewhere in the file (no line number), distinct for repeats.
        fingerprint = f"{kind}:{f['path']}:{f.get('evidence', '')}"
        seen[fingerprint] = seen.get(fingerprint, 0) + 1
        message = (f"{KINDS[kind].title}: {f.get('evidence', '')}. "
                   f"Suggestion: {f.get('suggestion', '')}")
        result: Dict[str, Any] = {
            "ruleId": kind, "ruleIndex": index[kind], "level": KINDS[kind].level,
            "message": {"text": message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": quote(str(f["path"]).encode("utf-8",
                                                                       "surrogateescape"),
                                                  safe="/"),
                                     "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": max(1, int(f.get("line", 1) or 1)),
                           "startColumn": max(1, int(f.get("column", 1) or 1))}}}],
            "partialFingerprints": {
                "hearthFinding/v1": f"{fingerprint}:{seen[fingerprint]}"},
            "properties": {"fixable": bool(f["fixable"]), "action": f.get("action", "manual"),
                           "service": f.get("service", KINDS[kind].service)},
        }
        results.append(result)
    run: Dict[str, Any] = {
        "tool": {"driver": {"name": TOOL_NAME, "version": TOOL_VERSION,
                            "semanticVersion": TOOL_VERSION,
                            "rules": [_rule(kind) for kind in kinds]}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if root_uri:
        run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": root_uri}}
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
