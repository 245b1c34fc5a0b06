# -*- coding: utf-8 -*-
"""Rules for AWS SDKs used in code: imports in Python, JavaScript/TypeScript, Go and Java.

A dependency manifest says an SDK is installed; an import says where the code calls AWS, which
is what a person has to change. Imports are never rewritten: an S3 client keeps working
against MinIO with an endpoint URL, every other AWS service needs a Hearth equivalent first.
Every module name matched here contains ``aws``, ``boto``, ``s3`` or ``amazon``, the words the
walker's prefilter looks for (a test holds the two together).
"""
from __future__ import annotations

import re
from typing import Iterator, Tuple

from .context import Context
from .kinds import KINDS, SDK_ADVICE

PY_MODULE = re.compile(r"(?:boto3|botocore|boto|aioboto3|aiobotocore|s3fs|s3transfer|awswrangler|"
                       r"pulumi_awsx?|aws_[a-z0-9_]+|mypy_boto3_\w+|requests_aws4auth)$")
_PY_NAME = r"[\w.]+(?:[ \t]+as[ \t]+\w+)?"
RE_PY_IMPORT = re.compile(r"(?m)^[ \t]*(?:import[ \t]+(?P<names>" + _PY_NAME + r"(?:[ \t]*,[ \t]*"
                          + _PY_NAME + r")*)|from[ \t]+(?P<module>[\w.]+)[ \t]+import\b)")
JS_MODULE = (r"(?:@aws-[\w-]+/[\w.-]+(?:/[\w./-]*)?|aws-sdk(?:/[\w./-]*)?|"
             r"aws-cdk-lib(?:/[\w./-]*)?|@pulumi/awsx?(?:/[\w./-]*)?|aws-amplify(?:/[\w./-]*)?|aws-lambda|"
             r"@types/aws-lambda|aws4|aws-xray-sdk(?:-[\w-]+)?|aws-serverless-express)")
RE_JS_IMPORT = re.compile(r"(?:\bfrom[ \t]*|\brequire[ \t]*\([ \t]*|\bimport[ \t]*\([ \t]*|"
                          r"^[ \t]*import[ \t]+)(?P<q>[\"'`])(?P<module>" + JS_MODULE + r")(?P=q)",
                          re.MULTILINE)
RE_GO_IMPORT = re.compile(r"\"(?P<module>github\.com/(?:aws/aws-[\w.-]+|pulumi/pulumi-aws)"
                          r"(?:/[\w.-]+)*)\"")
RE_JAVA_IMPORT = re.compile(r"(?m)^[ \t]*import[ \t]+(?:static[ \t]+)?"
                            r"(?P<module>(?:software\.amazon\.(?:awssdk|awscdk)|com\.amazonaws)"
                            r"[\w.*]*)")


def advice_for(module: str) -> str:
    """What to do about one imported module, by what it is for."""
    name = module.lower()
    if "pulumi" in name:
        return SDK_ADVICE["pulumi"]
    if "cdk" in name:
        return SDK_ADVICE["cdk"]
    if "lambda" in name:
        return SDK_ADVICE["lambda"]
    return KINDS["sdk-import"].advice


def _python_imports(text: str) -> Iterator[Tuple[int, str]]:
    """(offset, module) for every AWS module a Python import statement names."""
    for m in RE_PY_IMPORT.finditer(text):
        if m.group("module"):
            top = m.group("module").split(".")[0]
            if PY_MODULE.match(top):
                yield m.start("module"), m.group("module")
            continue
        offset = m.start("names")
        for part in m.group("names").split(","):
            name = part.split()[0] if part.split() else ""
            if name and PY_MODULE.match(name.split(".")[0]):
                yield offset + part.index(name), name
            offset += len(part) + 1


def detect_imports(ctx: Context) -> None:
    """One finding per import of an AWS SDK module, with advice by the module's purpose."""
    lang = ctx.role.lang
    if lang == "python":
        found = _python_imports(ctx.text) if ("boto" in ctx.low or "aws" in ctx.low or
                                              "s3" in ctx.low) else iter(())
    elif lang == "js":
        found = ((m.start("module"), m.group("module"))
                 for m in RE_JS_IMPORT.finditer(ctx.text)) if "aws" in ctx.low else iter(())
    elif lang == "go":
        found = ((m.start("module"), m.group("module"))
                 for m in RE_GO_IMPORT.finditer(ctx.text)) if "aws" in ctx.low else iter(())
    elif lang == "java":
        found = ((m.start("module"), m.group("module"))
                 for m in RE_JAVA_IMPORT.finditer(ctx.text)) if "amazon" in ctx.low else iter(())
    else:
        return
    for offset, module in found:
        line = ctx.lines.pos(offset)[0]
        ctx.emit(offset, "sdk-import", ctx.lines.line_text(line).strip()[:160],
                 advice_for(module), dedupe_line=True)
