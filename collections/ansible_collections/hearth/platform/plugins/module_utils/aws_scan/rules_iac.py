# -*- coding: utf-8 -*-
"""Rules for infrastructure as code and deployment descriptors that target AWS.

Terraform (providers, resources, modules whose source is an AWS module, and state kept in
S3/DynamoDB), Pulumi, the CDK, CloudFormation/SAM, the Serverless Framework (found by content,
whatever the file is called) and ECS task definitions. A file that only describes AWS is
deleted by a fix; a file that mixes AWS with anything else, and every piece of Terraform state,
is left to a person.
"""
from __future__ import annotations

import json
import re
from typing import Any, List, Optional

from .context import Context
from .kinds import KINDS

RE_TF_AWS = re.compile(r"(?m)^\s*(?:provider\s+\"aws\"|(?:resource|data)\s+\"aws_\w+\"|"
                       r"source\s*=\s*\"(?:registry\.terraform\.io/)?hashicorp/aws\")")
RE_TF_BLOCK = re.compile(r"(?m)^\s*(?:resource|data)\s+\"(?P<type>\w+)\"|"
                         r"^\s*provider\s+\"(?P<provider>[\w-]+)\"")
RE_TF_SOURCE = re.compile(r"(?m)^\s*source\s*=\s*\"(?P<source>[^\"]*)\"")
# Registry modules for the AWS provider end in /aws (terraform-aws-modules/vpc/aws,
# app.terraform.io/acme/network/aws//modules/x); git and HTTP sources follow the
# terraform-aws-<name> repository convention.
RE_TF_AWS_SOURCE = re.compile(r"^(?:[\w.-]+/)?[\w-]+/[\w-]+/aws(?://[^?]*)?(?:\?.*)?$|"
                              r"terraform-aws-|^(?:registry\.terraform\.io/)?hashicorp/aws$")
RE_TF_STATE = re.compile(r"(?m)^\s*(?:backend\s+\"s3\"|backend\s*=\s*\"s3\"|"
                         r"dynamodb_table\s*=|dynamodb_endpoint\s*=)")
RE_CFN = re.compile(r"(?m)^[\s{]*[\"']?AWSTemplateFormatVersion[\"']?\s*:|"
                    r"^[\s{,]*[\"']?Transform[\"']?\s*:\s*[\"']?AWS::Serverless")
RE_SLS_PROVIDER = re.compile(r"(?m)^provider:[ \t]*(?P<inline>[\"']?aws[\"']?[ \t]*(?:#.*)?$)?")
RE_SLS_NAME_AWS = re.compile(r"^name:[ \t]*[\"']?aws[\"']?[ \t]*(?:#.*)?$")
RE_SLS_SERVICE = re.compile(r"(?m)^service:")
RE_SLS_FRAMEWORK = re.compile(r"(?m)^(?:functions|frameworkVersion):")
RE_PULUMI_AWS = re.compile(r"(?m)^\s*[\"']?aws:[\w-]+|\baws\b")
RE_ECS = re.compile(r"\"containerDefinitions\"\s*:")
YAML = (".yml", ".yaml")


def _is_aws_source(source: str) -> bool:
    """Does a Terraform ``source`` name an AWS provider or an AWS module?"""
    return bool(RE_TF_AWS_SOURCE.search(source))


def _whole_file(ctx: Context, kind: str, line: int, evidence: str, delete: bool,
                hint: Optional[str] = None) -> None:
    ctx.emit_line(line, kind, evidence, hint, delete_file=delete)


def _terraform(ctx: Context) -> None:
    """Terraform: AWS resources, providers and modules, and state kept in AWS."""
    text = ctx.text
    states = list(RE_TF_STATE.finditer(text))
    for m in states:
        what = "DynamoDB lock table" if "dynamodb" in m.group(0) else "state in S3"
        ctx.emit_line(ctx.lines.pos(m.start())[0], "terraform-state",
                      f"{m.group(0).strip()} ({what})")
    sources = [m for m in RE_TF_SOURCE.finditer(text)]
    aws_sources = [m for m in sources if _is_aws_source(m.group("source"))]
    first = RE_TF_AWS.search(text)
    anchor = first if first is not None else (aws_sources[0] if aws_sources else None)
    if anchor is None:
        return
    blocks = [(b.group("type") or "", b.group("provider") or "")
              for b in RE_TF_BLOCK.finditer(text)]
    aws_only = (not states and len(aws_sources) == len(sources) and
                all(t.startswith("aws_") if t else p == "aws" for t, p in blocks))
    evidence = anchor.group(0).strip()
    hint = None if aws_only else "remove the AWS blocks and modules; other providers stay"
    _whole_file(ctx, "terraform-aws", ctx.lines.pos(anchor.start())[0], evidence, aws_only,
                hint)


def _as_list(value: Any) -> List[Any]:
    """Terraform's JSON syntax allows a block as an object or a list of objects."""
    return value if isinstance(value, list) else [value]


def _terraform_json(ctx: Context) -> None:
    """``*.tf.json``: the same findings as HCL, read from the JSON syntax's keys."""
    try:
        doc = json.loads(ctx.text)
    except ValueError:
        return
    if not isinstance(doc, dict):
        return

    def line_of(needle: str) -> int:
        at = ctx.text.find(needle)
        return ctx.lines.pos(at)[0] if at >= 0 else 1

    backends = [name for block in _as_list(doc.get("terraform", {})) if isinstance(block, dict)
                for backend in _as_list(block.get("backend", {})) if isinstance(backend, dict)
                for name in backend]
    for name in backends:
        if name == "s3":
            ctx.emit_line(line_of('"backend"'), "terraform-state", 'backend "s3" (state in S3)')
    providers = [name for block in _as_list(doc.get("provider", {})) if isinstance(block, dict)
                 for name in block]
    types = [name for key in ("resource", "data")
             for block in _as_list(doc.get(key, {})) if isinstance(block, dict)
             for name in block]
    sources = [str(m.get("source", "")) for block in _as_list(doc.get("module", {}))
               if isinstance(block, dict) for body in block.values()
               for m in _as_list(body) if isinstance(m, dict)]
    aws = ([p for p in providers if p == "aws"] + [t for t in types if t.startswith("aws_")] +
           [src for src in sources if _is_aws_source(src)])
    if not aws:
        return
    aws_only = ("s3" not in backends and all(p == "aws" for p in providers) and
                all(t.startswith("aws_") for t in types) and
                all(_is_aws_source(src) for src in sources))
    first = aws[0]
    _whole_file(ctx, "terraform-aws", line_of(f'"{first}"'), first, aws_only,
                None if aws_only else "remove the AWS blocks and modules; other providers stay")


def _block_names_aws(after: str) -> bool:
    """Does the block that follows ``provider:`` say ``name: aws`` at its own first level?"""
    indent = None
    for line in after.split("\n")[1:]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[:1].isspace():
            return False
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        if depth == indent and RE_SLS_NAME_AWS.match(line.lstrip()):
            return True
    return False


def _serverless(ctx: Context) -> bool:
    """A Serverless Framework service on AWS: ``provider: aws`` or ``name: aws`` under it.

    A file named ``serverless*`` needs only that, and is deleted by a fix. Any other YAML
    (serverless-api.yml is named so; sls/api.yaml, deploy/worker.yml are not) must also have
    the framework's top-level ``service:`` and ``functions:`` or ``frameworkVersion:``, and
    is reported for a person to delete: a Helm values file can have ``service:`` and
    ``provider: aws`` too. Returns whether it was one.
    """
    named = ctx.role.lower.startswith("serverless")
    if not named and not (RE_SLS_SERVICE.search(ctx.text) and RE_SLS_FRAMEWORK.search(ctx.text)):
        return False
    m = RE_SLS_PROVIDER.search(ctx.text)
    if m and (m.group("inline") or _block_names_aws(ctx.text[m.end():])):
        hint = None if named else "delete the file (a Serverless Framework service on AWS); " \
            + KINDS["serverless-aws"].advice.split("; ", 1)[1]
        _whole_file(ctx, "serverless-aws", ctx.lines.pos(m.start())[0], "provider: aws",
                    named, hint)
        return True
    return False


def _ecs(ctx: Context) -> None:
    try:
        data = json.loads(ctx.text)
    except ValueError:
        return
    items: List[object] = data if isinstance(data, list) else [data]
    if any(isinstance(i, dict) and isinstance(i.get("containerDefinitions"), list)
           for i in items):
        m = RE_ECS.search(ctx.text)
        if m is not None:
            _whole_file(ctx, "ecs-task-definition", ctx.lines.pos(m.start())[0],
                        "containerDefinitions", True)


def detect_deploy(ctx: Context) -> None:
    """Deployment descriptors, by file type first and content second."""
    lower, suffix, text = ctx.role.lower, ctx.role.suffix, ctx.text
    if lower.endswith(".tf.json"):
        _terraform_json(ctx)
    elif suffix in (".tf", ".hcl"):
        _terraform(ctx)
    elif lower.startswith("pulumi.") and suffix in YAML:
        m = RE_PULUMI_AWS.search(text)
        if m:
            _whole_file(ctx, "pulumi-aws", ctx.lines.pos(m.start())[0],
                        m.group(0).strip()[:80], False)
    elif lower == "cdk.json":
        _whole_file(ctx, "cdk-app", 1, "cdk.json", False)
    elif lower == "samconfig.toml":
        _whole_file(ctx, "cloudformation-template", 1, "samconfig.toml (SAM CLI settings)",
                    True)
    elif suffix in YAML and "aws" in ctx.low and _serverless(ctx):
        return
    elif suffix in YAML + (".json", ".template") and "aws" in ctx.low and RE_CFN.search(text):
        m = RE_CFN.search(text)
        assert m is not None
        _whole_file(ctx, "cloudformation-template", ctx.lines.pos(m.start())[0],
                    m.group(0).strip(), True)
    elif suffix == ".json" and "containerdefinitions" in ctx.low and RE_ECS.search(text):
        _ecs(ctx)
