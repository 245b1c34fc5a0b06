# -*- coding: utf-8 -*-
"""Rules for identity and configuration: ARNs, access keys, secret keys, ``AWS_*`` variables.

None of these is rewritten: a key must be deactivated in IAM and purged from history by a
person, and an ARN or variable needs a decision. Keys are masked in the evidence.
"""
from __future__ import annotations

import re

from .context import Context
from .kinds import ARN_ADVICE, KINDS, VAR_ADVICE
from .text import RE_KEY_ID, RE_SECRET, mask_secret

RE_ARN = re.compile(r"(?<![\w-])arn:aws(?:-cn|-us-gov|-iso(?:-[a-z])?)?:(?P<service>[a-z0-9-]+)"
                    r":[a-z0-9-]*:(?:\d{12}|aws)?:[^\s\"'<>`,;)\]{}=$]+")
RE_AWS_VAR = re.compile(r"(?<![A-Za-z0-9_])AWS_[A-Z0-9_]+\b")
# Raw bytes and text alike: the four prefixes of AWS access key IDs.
KEY_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA")


def detect_ids(ctx: Context) -> None:
    """ARNs (advice by service), access key IDs and secret access keys (masked)."""
    low, text = ctx.low, ctx.text
    for m in RE_ARN.finditer(text) if "arn:aws" in low else ():
        ctx.emit(m.start(), "arn", m.group(0)[:160],
                 ARN_ADVICE.get(m.group("service"), KINDS["arn"].advice))
    if any(prefix in text for prefix in KEY_PREFIXES):
        for m in RE_KEY_ID.finditer(text):
            ctx.emit(m.start(), "access-key-id", mask_secret(m.group("key")),
                     KINDS["access-key-id"].advice)
    for m in RE_SECRET.finditer(text) if "secret" in low else ():
        ctx.emit(m.start(), "secret-access-key",
                 f"{m.group('name')}={mask_secret(m.group('secret'), 0, 0)}",
                 KINDS["secret-access-key"].advice)


def detect_vars(ctx: Context) -> None:
    """``AWS_*`` names where they are configuration: env files, compose files, workflows."""
    if not ctx.role.vars or "AWS_" not in ctx.text:
        return
    for m in RE_AWS_VAR.finditer(ctx.text):
        name = m.group(0)
        ctx.emit(m.start(), "aws-env-var", name, VAR_ADVICE.get(name, "remove"),
                 dedupe_line=True)
