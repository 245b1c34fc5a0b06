# -*- coding: utf-8 -*-
"""Rules for addresses of AWS services: ECR images, S3, RDS and ElastiCache endpoints.

Each becomes a reference to the Hearth service that replaces it. In configuration and shell
files that is ``${VAR}``; in Python and JavaScript only a string literal that is exactly the
endpoint is rewritten, into an expression that reads the environment. Anything else is left
to a person, with the replacement spelled out.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from typing import Optional, Set, Tuple

from .context import Context
from .kinds import KINDS
from .model import OWNER_PLACEHOLDER, Edit
from .text import mask_userinfo

_REGION = r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d"
_PATH_CHARS = r"[^\s\"'<>`(){}\[\],;|\\]"
# A path runs to the first delimiter, without a trailing sentence dot or colon.
_PATH = r"(?:" + _PATH_CHARS + r"*(?<![.:]))"
# A scheme starts a word: in r2dbc:postgresql:// or jdbc:aws-wrapper:postgresql:// the host is
# matched alone and, being inside someone else's URL, left to a person.
_SCHEME = (r"(?<![\w:+.-])(?P<scheme>(?:jdbc:)?[a-z][a-z0-9+.-]*)://"
           r"(?P<userinfo>[^@\s/\"'<>]*@)?")

RE_ECR = re.compile(
    r"(?<![\w.-])(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>" + _REGION + r")"
    r"\.amazonaws\.com(?:\.cn)?"
    r"(?:/(?P<repo>[a-z0-9]+(?:[._/-]+[a-z0-9]+)*)(?P<suffix>(?::[\w][\w.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?))?")
RE_ECR_PUBLIC = re.compile(
    r"(?<![\w.-])public\.ecr\.aws/(?P<alias>[a-z0-9][a-z0-9_-]*)/"
    r"(?P<repo>[a-z0-9]+(?:[._/-]+[a-z0-9]+)*)(?P<suffix>(?::[\w][\w.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?)")
RE_S3_URI = re.compile(r"(?<![\w+.-])(?P<scheme>s3[an]?)://(?P<rest>" + _PATH + r")",
                       re.IGNORECASE)
RE_S3_VHOST = re.compile(
    r"(?P<web>https?://)?(?<![\w.-])(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])"
    r"\.s3(?:-accelerate)?(?:[.-](?:dualstack\.)?(?P<region>" + _REGION + r"))?"
    r"(?:\.dualstack)?\.amazonaws\.com(?:\.cn)?(?![\w.-])"
    r"(?P<path>/" + _PATH + r")?")
RE_S3_PATH = re.compile(
    r"(?P<web>https?://)?(?<![\w.-])s3(?:[.-](?:dualstack\.)?(?P<region>" + _REGION + r"))?"
    r"\.amazonaws\.com(?:\.cn)?/(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])"
    r"(?P<path>/" + _PATH + r")?")
RE_RDS = re.compile(
    r"(?:" + _SCHEME + r")?(?<![\w.-])(?P<host>[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*"
    r"\.rds\.amazonaws\.com(?:\.cn)?)(?![\w.-])(?::(?P<port>\d{2,5}))?"
    r"(?P<rest>[/?]" + _PATH + r")?", re.IGNORECASE)
RE_CACHE = re.compile(
    r"(?:" + _SCHEME + r")?(?<![\w.-])(?P<host>[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*"
    r"\.cache\.amazonaws\.com(?:\.cn)?)(?![\w.-])(?::(?P<port>\d{2,5}))?"
    r"(?P<rest>[/?]" + _PATH + r")?", re.IGNORECASE)


def is_ecr_host(name: str) -> bool:
    """Is a registry host (or a URL naming one) private or public ECR? Docker configs key
    their logins and credential helpers by such names."""
    host = name.split("://", 1)[-1].split("/", 1)[0].lower()
    return host == "public.ecr.aws" or RE_ECR.fullmatch(host) is not None


def endpoint_edit(ctx: Context, start: int, end: int, var: str,
                  rest: str) -> Tuple[Optional[Edit], bool]:
    """Plan ``${VAR}rest`` in config and shell files, an expression in Python and JS.

    Returns the edit (or None: a person must change it) and whether Python needs
    ``import os``.
    """
    text, lang = ctx.text, ctx.role.lang
    if lang in ("python", "js"):
        quote = text[start - 1] if start > 0 else ""
        quotes = "\"'`" if lang == "js" else "\"'"
        if not quote or quote not in quotes or end >= len(text) or text[end] != quote:
            return None, False
        if lang == "python":
            # Only a whole, plain string token: not part of a longer string, a docstring, an
            # f-string, bytes or raw literal, where the expression would not be code.
            if (start - 1, end + 1) not in _python_plain_strings(ctx):
                return None, False
            expr = (f'os.environ["{var}"]' if not rest
                    else f"f\"{{os.environ['{var}']}}{rest}\"")
            return Edit(start - 1, end + 1, expr), True
        if not _js_literal_stands_alone(ctx, start - 1):
            return None, False
        expr = f"process.env.{var}" if not rest else f"`${{process.env.{var}}}{rest}`"
        return Edit(start - 1, end + 1, expr), False
    if lang == "shell":
        line_start = text.rfind("\n", 0, start) + 1
        if text.count("'", line_start, start) % 2:
            return None, False  # inside single quotes the shell would not expand it
        return Edit(start, end, f"${{{var}}}{rest}"), False
    if ctx.role.config:
        return Edit(start, end, f"${{{var}}}{rest}"), False
    return None, False


def _python_plain_strings(ctx: Context) -> Set[Tuple[int, int]]:
    """(start, end) offsets of every single-line, unprefixed string token of a Python file.

    Empty when the file does not tokenize: then nothing in it is rewritten.
    """
    cached = ctx.memo.get("python_strings")
    if cached is None:
        spans: Set[Tuple[int, int]] = set()
        starts = ctx.lines.starts
        try:
            for tok in tokenize.generate_tokens(io.StringIO(ctx.text).readline):
                if tok.type != tokenize.STRING or tok.start[0] != tok.end[0]:
                    continue
                if tok.string[:1] in "\"'" and not tok.string.startswith(('"""', "'''")):
                    line_start = starts[tok.start[0] - 1]
                    spans.add((line_start + tok.start[1], line_start + tok.end[1]))
        except (tokenize.TokenError, SyntaxError, IndexError):
            spans = set()
        ctx.memo["python_strings"] = cached = spans
    return cached  # type: ignore[return-value]


def _js_literal_stands_alone(ctx: Context, quote_at: int) -> bool:
    """Is the literal opening at ``quote_at`` code, not text inside another string or a JSX
    attribute (``src="..."``), where an expression would not be evaluated?"""
    text = ctx.text
    line_start = text.rfind("\n", 0, quote_at) + 1
    before = text[line_start:quote_at]
    for other in "\"'`":
        if (before.count(other) - before.count("\\" + other)) % 2:
            return False
    if ctx.role.suffix in (".jsx", ".tsx") and before.endswith("=") and \
            before[-2:-1].isidentifier():
        return False
    return True


def has_import_os(text: str) -> bool:
    """Does the module import ``os`` under its own name at top level? (Text in a docstring or
    a string that reads "import os" does not count.)"""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(node, ast.Import) and
               any(alias.name == "os" and alias.asname is None for alias in node.names)
               for node in tree.body)


def python_import_offset(text: str) -> Optional[int]:
    """Where ``import os`` goes: after the docstring and ``from __future__`` imports.

    None when the file does not parse: then there is no safe place, and the findings that
    would need the import are left to a person.
    """
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    last_line = 0
    for index, node in enumerate(tree.body):
        value = node.value if isinstance(node, ast.Expr) else None
        is_doc = (index == 0 and isinstance(value, ast.Constant) and
                  isinstance(value.value, str))
        is_future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if not (is_doc or is_future):
            break
        last_line = node.end_lineno or node.lineno
    if last_line == 0:
        lines = text.split("\n")
        while last_line < len(lines) and lines[last_line].startswith("#"):
            last_line += 1  # shebang and coding lines stay first
    offset = 0
    for _ in range(last_line):
        nl = text.find("\n", offset)
        if nl < 0:
            return len(text)
        offset = nl + 1
    return offset


def detect_ecr(ctx: Context) -> None:
    """Private ECR images and registries become GHCR; public ECR images are mirrored."""
    if ".ecr" not in ctx.low:
        return
    text = ctx.text
    owner = ctx.opts.ghcr_owner.lower() or OWNER_PLACEHOLDER
    for m in ctx.finditer(RE_ECR, ".dkr.ecr"):
        if m.group("repo"):
            new = f"ghcr.io/{owner}/{m.group('repo')}{m.group('suffix') or ''}"
            ctx.emit(m.start(), "ecr-image", m.group(0), new, Edit(m.start(), m.end(), new))
        else:
            line_start = text.rfind("\n", 0, m.start()) + 1
            if "login" in text[line_start:m.start()]:
                # A login sends a password: only the whole ECR login pipeline is rewritten
                # (rules_ci), never the host alone, which would send an AWS token to GHCR.
                ctx.emit(m.start(), "ecr-registry", m.group(0),
                         "ghcr.io, with a GHCR token (by hand: the login's password is AWS's)")
                continue
            new = f"ghcr.io/{owner}"
            ctx.emit(m.start(), "ecr-registry", m.group(0), new, Edit(m.start(), m.end(), new))
    for m in ctx.finditer(RE_ECR_PUBLIC, "public.ecr.aws/"):
        alias, repo, suffix = m.group("alias"), m.group("repo"), m.group("suffix") or ""
        if alias == "docker" and repo.startswith("library/"):
            new = f"docker.io/{repo}{suffix}"
            ctx.emit(m.start(), "ecr-public-image", m.group(0), new,
                     Edit(m.start(), m.end(), new))
        elif alias in ("lambda", "sam"):
            ctx.emit(m.start(), "ecr-public-image", m.group(0),
                     "AWS Lambda base image: rebuild on a plain base image (python:, node:)")
        else:
            new = f"ghcr.io/{owner}/{repo}{suffix}"
            ctx.emit(m.start(), "ecr-public-image", m.group(0), new + " (mirror it there first)",
                     Edit(m.start(), m.end(), new))


def detect_s3(ctx: Context) -> None:
    """``s3://`` URIs (kept, with advice) and S3 endpoint URLs (become ``S3_ENDPOINT_URL``)."""
    low = ctx.low
    if "s3" not in low:
        return
    for m in ctx.finditer(RE_S3_URI, "://") if "://" in low else ():
        hint = KINDS["s3-uri"].advice
        if m.group("scheme").lower() == "s3n":
            hint = "s3n:// is gone from Hadoop 3: use s3a:// with fs.s3a.endpoint (MinIO)"
        ctx.emit(m.start(), "s3-uri", m.group(0)[:160], hint)
    for regex in (RE_S3_VHOST, RE_S3_PATH) if "amazonaws.com" in low else ():
        for m in ctx.finditer(regex, "amazonaws.com"):
            rest = f"/{m.group('bucket')}{m.group('path') or ''}"
            if not m.group("web"):
                ctx.emit(m.start(), "s3-endpoint", m.group(0)[:160],
                         f"${{S3_ENDPOINT_URL}}{rest} (host without scheme: change by hand)")
                continue
            edit, needs_os = endpoint_edit(ctx, m.start(), m.end(), "S3_ENDPOINT_URL", rest)
            ctx.emit(m.start(), "s3-endpoint", m.group(0)[:160],
                     edit.new if edit else f"${{S3_ENDPOINT_URL}}{rest}", edit,
                     needs_import_os=needs_os)


_DATABASES = ((RE_RDS, ".rds.amazonaws.", "rds-endpoint", "DATABASE_URL", "POSTGRES_HOST"),
              (RE_CACHE, ".cache.amazonaws.", "elasticache-endpoint", "REDIS_URL",
               "REDIS_HOST"))


def detect_databases(ctx: Context) -> None:
    """RDS and ElastiCache endpoints: a URL becomes ``*_URL``, a bare host ``*_HOST``."""
    for regex, marker, kind, url_var, host_var in _DATABASES:
        if marker not in ctx.low:
            continue
        for m in ctx.finditer(regex, marker):
            evidence = mask_userinfo(m.group(0))[:160]
            scheme = (m.group("scheme") or "").lower()
            if scheme.startswith("jdbc:"):
                ctx.emit(m.start(), kind, evidence,
                         f"JDBC URL: build it from ${{{host_var}}} by hand")
                continue
            if not scheme and ctx.text[max(0, m.start() - 3):m.start()] == "://":
                ctx.emit(m.start(), kind, evidence,
                         f"the host of a URL with its own scheme: build it from "
                         f"${{{host_var}}} by hand")
                continue
            if scheme:
                var, rest = url_var, ""
            else:
                var, rest = host_var, (f":{m.group('port')}" if m.group("port") else "")
                rest += m.group("rest") or ""
            edit, needs_os = endpoint_edit(ctx, m.start(), m.end(), var, rest)
            ctx.emit(m.start(), kind, evidence,
                     edit.new if edit else f"${{{var}}}{rest}", edit, needs_import_os=needs_os)
