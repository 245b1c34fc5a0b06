# -*- coding: utf-8 -*-
"""Rules for CI and scripts: ``aws-actions/*`` steps, AWS CLI calls and the ECR login.

The one command rewritten is the ECR login pipeline, and only as a whole:
``aws ecr get-login-password ... | docker login ... <registry>`` with nothing after it becomes
the GHCR login in the file's own quoting (shell, Makefile, GitHub workflow). Anything longer
is reported and left untouched, and so is every other edit on the same logical line (see
:func:`guard_cli_lines`), so a fix never leaves half an AWS command behind.
"""
from __future__ import annotations

import re
from typing import List, Set, Tuple

from .context import Context
from .kinds import ACTION_ADVICE, CLI_ADVICE, KINDS
from .model import Edit, Finding
from .text import Lines

RE_AWS_ACTION = re.compile(r"uses:\s*[\"']?(?P<action>aws-actions/[\w.-]+)(?:@[\w./-]+)?")
_AWS_OPTS = r"(?:[ \t]+--[\w-]+(?:[ =][^\s|;&-]\S*)?)*"
RE_CLI = re.compile(r"(?<![\w/.$-])aws" + _AWS_OPTS + r"[ \t]+(?P<svc>[a-z][a-z0-9-]+)[ \t]+[a-z]")
RE_ECR_LOGIN = re.compile(
    r"(?<![\w/.$-])aws" + _AWS_OPTS + r"[ \t]+ecr" + _AWS_OPTS + r"[ \t]+get-login-password\b"
    r"[^|\n]*\|[ \t]*(?:sudo[ \t]+)?docker[ \t]+login\b"
    r"(?:[^\n;&|#`()\\\"'$]|\$\([\w.-]+\)|\$\{[\w.-]+\}|\$[\w]+)*")
RE_ECR_LOGIN_OLD = re.compile(r"(?<![\w/.$-])aws" + _AWS_OPTS + r"[ \t]+ecr" + _AWS_OPTS +
                              r"[ \t]+get-login\b(?!-)")
GHCR_LOGIN = {
    "workflow": 'echo "${{ secrets.GITHUB_TOKEN }}" | docker login ghcr.io '
                '-u "${{ github.actor }}" --password-stdin',
    "make": 'echo "$$GHCR_TOKEN" | docker login ghcr.io -u "$$GHCR_USER" --password-stdin',
    "shell": 'echo "$GHCR_TOKEN" | docker login ghcr.io -u "$GHCR_USER" --password-stdin',
}


def detect_actions(ctx: Context) -> None:
    """``uses: aws-actions/...`` in workflows and composite actions."""
    role = ctx.role
    if not (role.workflow or role.lower in ("action.yml", "action.yaml")) or \
            "aws-actions/" not in ctx.text:
        return
    for m in RE_AWS_ACTION.finditer(ctx.text):
        action = m.group("action")
        ctx.emit(m.start("action"), "aws-actions-step", m.group(0),
                 ACTION_ADVICE.get(action, KINDS["aws-actions-step"].advice))


def _login_style(ctx: Context) -> str:
    """Which spelling of the GHCR login fits this file, or '' when none is safe."""
    role = ctx.role
    if role.workflow:
        return "workflow"
    if role.lower in ("makefile", "gnumakefile") or role.suffix == ".mk":
        return "make"
    if role.lang == "shell":
        return "shell"
    return ""


def _ecr_logins(ctx: Context) -> Set[int]:
    """ECR login pipelines: rewritten when they end their line, else reported."""
    text, starts, style = ctx.text, set(), _login_style(ctx)
    for m in RE_ECR_LOGIN.finditer(text):
        starts.add(m.start())
        line_end = text.find("\n", m.end())
        tail = text[m.end():line_end if line_end >= 0 else len(text)]
        evidence = m.group(0).strip()[:160]
        if style and not tail.strip():
            new = GHCR_LOGIN[style]
            ctx.emit(m.start(), "ecr-login", evidence, new,
                     Edit(m.start(), m.start() + len(m.group(0).rstrip()), new))
        else:
            ctx.emit(m.start(), "ecr-login", evidence,
                     KINDS["ecr-login"].advice + " (by hand: the command goes on)")
    for m in RE_ECR_LOGIN_OLD.finditer(text):
        starts.add(m.start())
        ctx.emit(m.start(), "ecr-login", m.group(0).strip(),
                 KINDS["ecr-login"].advice + " (by hand: aws ecr get-login is gone from "
                                             "AWS CLI v2)")
    return starts


def detect_cli(ctx: Context) -> None:
    """AWS CLI calls in scripts, Makefiles, Dockerfiles and workflows."""
    if not ctx.role.shell_like or "aws" not in ctx.text:
        return
    logins = _ecr_logins(ctx) if "ecr" in ctx.text else set()
    text = ctx.text
    for m in RE_CLI.finditer(text):
        if m.start() in logins:
            continue
        svc = m.group("svc")
        line_end = text.find("\n", m.start())
        command = text[m.start():line_end if line_end >= 0 else len(text)]
        ctx.emit(m.start(), "aws-cli-call", command.strip()[:120],
                 CLI_ADVICE.get(svc, "remove (AWS API call)"))


_CONTINUED = ("\\", "|", "&&", "||")


def logical_lines(lines: Lines, line: int) -> Tuple[int, int]:
    """First and last physical line of the shell command that spans ``line``: lines ending
    in a backslash, a pipe, ``&&`` or ``||`` go on to the next one."""
    first = last = line
    while first > 1 and lines.line_text(first - 1).rstrip().endswith(_CONTINUED):
        first -= 1
    total = len(lines.starts)
    while last < total and lines.line_text(last).rstrip().endswith(_CONTINUED):
        last += 1
    return first, last


def cli_lines(lines: Lines) -> Set[int]:
    """Physical lines with something that looks like an AWS CLI call, in any kind of file
    (CI definitions such as .gitlab-ci.yml or a Jenkinsfile hold shell too)."""
    if "aws" not in lines.text:
        return set()
    return {lines.pos(m.start())[0] for m in RE_CLI.finditer(lines.text)}


def guard_cli_lines(findings: List[Finding], lines: Lines) -> List[Finding]:
    """Keep edits off command lines that a person has to rewrite anyway.

    A fixable ECR login absorbs the registry rewrite inside it. On a logical line with an AWS
    CLI call left for a person (a finding, or in files the CLI rule does not read, any text
    shaped like one), every other edit is turned into advice.
    """
    fixes = [f.edit for f in findings if f.kind == "ecr-login" and f.edit is not None]
    kept = [f for f in findings
            if f.kind == "ecr-login" or f.edit is None or
            not any(e.start <= f.edit.start and f.edit.end <= e.end for e in fixes)]
    starts = {f.line for f in kept if f.kind in ("aws-cli-call", "ecr-login") and not f.fixable}
    starts |= cli_lines(lines) - {f.line for f in kept if f.kind == "ecr-login" and f.fixable}
    manual: Set[int] = set()
    for line in starts:
        first, last = logical_lines(lines, line)
        manual.update(range(first, last + 1))
    for f in kept:
        if f.line in manual and f.fixable and not f.delete_file and f.kind != "ecr-login":
            f.make_manual()
            f.suggestion += " (by hand, with the AWS CLI call on this line)"
    return kept
