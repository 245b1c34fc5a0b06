# -*- coding: utf-8 -*-
"""Text helpers shared by the rules and the reports: positions, and masking of secrets.

Secrets are masked at the moment a finding is made, so no report, diff or SARIF file can
carry one; :func:`redact` masks whole texts (diffs shown on screen).
"""
from __future__ import annotations

import bisect
import re
from typing import Iterator, List, Optional, Tuple

RE_KEY_ID = re.compile(r"(?<![A-Za-z0-9])(?P<key>(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})"
                       r"(?![A-Za-z0-9])")
RE_SECRET = re.compile(r"(?i)(?P<name>aws_?secret_?(?:access_?)?key|secret_?access_?key)"
                       r"[\"']?(?:[ \t]*[:=][ \t]*|[ \t]+)[\"']?"
                       r"(?P<secret>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])")
RE_URL_PASSWORD = re.compile(r"(://[^:@/\s\"']*):[^@/\s\"']*@")
# Credentials in query strings: presigned S3 URLs, database URLs with password=...
RE_QUERY_SECRET = re.compile(r"(?i)([?&;](?:X-Amz-(?:Credential|Security-Token|Signature)|"
                             r"password|passwd|pwd|secret|token|sig|signature)=)[^&\s\"'#]+")


def mask_secret(value: str, head: int = 4, tail: int = 3) -> str:
    """``AKIAABCDEFGHIJKLMNOP`` -> ``AKIA****NOP``; short values become ``****``."""
    if len(value) <= head + tail + 4:
        return "****"
    return f"{value[:head]}****{value[len(value) - tail:]}"


def mask_userinfo(url: str) -> str:
    """Hide the password of ``scheme://user:password@host``."""
    return RE_URL_PASSWORD.sub(r"\1:****@", url)


def redact(text: str) -> str:
    """Mask access key IDs, secret keys, URL passwords and credentials in query strings.

    Every finding's evidence and suggestion pass through here, and so do diffs shown to people.
    """
    if "AKIA" in text or "ASIA" in text or "ABIA" in text or "ACCA" in text:
        text = RE_KEY_ID.sub(lambda m: mask_secret(m.group("key")), text)
    text = RE_SECRET.sub(lambda m: m.group(0).replace(m.group("secret"), "****"), text)
    text = RE_QUERY_SECRET.sub(r"\1****", text)
    return mask_userinfo(text)


class Lines:
    """Offset -> (line, column) lookups over one text, built only when a file has a match."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: Optional[List[int]] = None

    @property
    def starts(self) -> List[int]:
        """Offsets at which each line begins."""
        if self._starts is None:
            self._starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        return self._starts

    def pos(self, offset: int) -> Tuple[int, int]:
        """1-based line and column of a character offset."""
        index = bisect.bisect_right(self.starts, offset) - 1
        return index + 1, offset - self.starts[index] + 1

    def line_span(self, line: int) -> Tuple[int, int]:
        """Offsets of a whole line including its newline."""
        start = self.starts[line - 1]
        end = self.starts[line] if line < len(self.starts) else len(self.text)
        return start, end

    def line_text(self, line: int) -> str:
        """One line's text, without its newline."""
        start, end = self.line_span(line)
        return self.text[start:end].rstrip("\n")

    def lines(self) -> Iterator[Tuple[int, str]]:
        """Yield (1-based number, text without newline)."""
        for number, line in enumerate(self.text.split("\n"), start=1):
            yield number, line
