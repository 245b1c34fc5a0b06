# -*- coding: utf-8 -*-
"""One file under scan: its text, traits, and the two ways a rule records a finding."""
from __future__ import annotations

import re
from typing import Dict, Iterator, List, Optional, Set, Tuple

from .files import FileRole
from .kinds import KINDS
from .model import Edit, Finding, Options
from .text import Lines, redact


class Context:
    """Everything a rule needs about one file, and where its findings go."""

    __slots__ = ("path", "text", "low", "role", "lines", "opts", "findings", "_seen", "memo")

    def __init__(self, text: str, path: str, role: FileRole, opts: Options) -> None:
        self.path = path
        self.text = text
        self.low = text.lower()
        self.role = role
        self.lines = Lines(text)
        self.opts = opts
        self.findings: List[Finding] = []
        self._seen: Set[Tuple[str, int, str]] = set()
        self.memo: Dict[str, object] = {}  # per-file facts a rule computes once (string tokens)

    def marked_lines(self, marker: str) -> List[Tuple[int, int]]:
        """(start, end) of every line whose lower-cased text contains ``marker``, once each.

        Rules whose matches never span a newline search only these lines: a regular
        expression that may start anywhere is costly over a whole file.
        """
        low, spans, at = self.low, [], self.low.find(marker)
        if at >= 0 and len(low) != len(self.text):
            return [(0, len(self.text))]  # lower() changed the length: offsets would not map
        while at >= 0:
            start = low.rfind("\n", 0, at) + 1
            end = low.find("\n", at)
            end = len(low) if end < 0 else end
            spans.append((start, end))
            at = low.find(marker, end)
        return spans

    def finditer(self, regex: "re.Pattern[str]", marker: str) -> Iterator["re.Match[str]"]:
        """``regex.finditer`` over the lines that contain ``marker`` (offsets stay absolute;
        look-behinds still see the text before a line)."""
        for start, end in self.marked_lines(marker):
            yield from regex.finditer(self.text, start, end)

    def emit(self, offset: int, kind: str, evidence: str, suggestion: str,
             edit: Optional[Edit] = None, needs_import_os: bool = False,
             dedupe_line: bool = False) -> None:
        """A finding at a character offset, fixed by ``edit`` when there is one."""
        line, column = self.lines.pos(offset)
        if dedupe_line:
            if (kind, line, evidence) in self._seen:
                return
            self._seen.add((kind, line, evidence))
        self.findings.append(Finding(self.path, line, column, kind, redact(evidence),
                                     redact(suggestion), edit is not None, edit,
                                     needs_import_os=needs_import_os,
                                     action="rewrite" if edit is not None else "manual"))

    def emit_line(self, line: int, kind: str, evidence: str, suggestion: Optional[str] = None,
                  delete_file: bool = False, remove: bool = False,
                  through: Optional[int] = None) -> None:
        """A finding about a whole line: removable (with its continuation lines up to
        ``through``), a reason to delete the file, or manual."""
        edit = None
        if remove:
            start = self.lines.line_span(line)[0]
            end = self.lines.line_span(through or line)[1]
            edit = Edit(start, end, "")
        if suggestion is None:
            suggestion = "(line removed)" if remove else KINDS[kind].advice
        self.findings.append(Finding(self.path, line, 1, kind, redact(evidence),
                                     "(file deleted)" if delete_file else redact(suggestion),
                                     remove or delete_file, edit, delete_file=delete_file,
                                     action=("delete-file" if delete_file else
                                             "remove-line" if remove else "manual")))
