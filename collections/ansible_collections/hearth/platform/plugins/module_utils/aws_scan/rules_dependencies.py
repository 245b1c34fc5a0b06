# -*- coding: utf-8 -*-
"""Rules for dependency manifests: AWS SDKs (for a person) and AWS tooling (removable).

Deployment tooling (the AWS CLI, SAM, the CDK CLI, Serverless and its plugins) is imported by
nothing, so a line that names only such a tool is removed by a fix. SDKs are reported: code
calls them (see the import rule).
"""
from __future__ import annotations

import re
from typing import Optional

from .context import Context
from .files import is_requirements

TOOL_DEPENDENCIES = frozenset({
    "awscli", "aws-sam-cli", "aws-cdk", "serverless", "zappa", "cfn-lint",
    "@aws-amplify/cli", "aws-sam-translator", "serverless-python-requirements",
    "serverless-offline", "serverless-webpack", "serverless-plugin-typescript",
})
SDK_DEPENDENCIES = frozenset({
    "boto3", "botocore", "boto", "aioboto3", "aiobotocore", "s3fs", "s3transfer",
    "awswrangler", "aws-lambda-powertools", "aws-xray-sdk", "aws-requests-auth",
    "requests-aws4auth", "chalice", "mangum", "prefect-aws", "dagster-aws",
    "apache-airflow-providers-amazon", "sagemaker", "aws-cdk-lib", "pulumi-aws",
    "aws-encryption-sdk", "boto3-stubs", "types-boto3", "aws-sdk", "aws-amplify",
    "@pulumi/aws", "aws-lambda", "@types/aws-lambda", "aws-serverless-express",
    "@vendia/serverless-express", "aws4", "amazon-cognito-identity-js", "dynamoose",
    "aws-sdk-core", "aws-sigv4", "aws-config", "pulumi-awsx", "@pulumi/awsx",
})
SDK_PREFIXES = ("@aws-sdk/", "@aws-cdk/", "@aws-amplify/", "@aws-lambda-powertools/",
                "@aws-crypto/", "aws-cdk.", "aws-cdk-", "mypy-boto3-", "types-boto3-",
                "types-aiobotocore", "aws-sdk-", "aws-smithy-", "serverless-")
GO_AWS_MODULES = ("github.com/aws/aws-sdk-go", "github.com/aws/aws-lambda-go",
                  "github.com/aws/aws-cdk-go", "github.com/aws/constructs-go",
                  "github.com/pulumi/pulumi-aws")

RE_REQ_LINE = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*"
                         r"(?:[<>=!~;@ ]|$)")
RE_TOML_STR_DEP = re.compile(r"^\s*[\"'](?P<name>[A-Za-z0-9@][A-Za-z0-9._/-]*)\s*"
                             r"(?:\[[^\]]*\])?\s*[^\"']*[\"']\s*,?\s*(?:#.*)?$")
RE_TOML_KEY_DEP = re.compile(r"^\s*[\"']?(?P<name>[A-Za-z0-9@][A-Za-z0-9._/-]*)[\"']?\s*=")
RE_TOML_SECTION = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")
RE_TOML_ARRAY_START = re.compile(r"^\s*[\w.-]*dependencies\s*=\s*\[")
RE_TOML_ANY_ARRAY = re.compile(r"^\s*[\w.-]+\s*=\s*\[\s*$")
RE_JSON_DEP = re.compile(r"^\s*\"(?P<name>[^\"]+)\"\s*:\s*\"[^\"]*\"\s*,?\s*$")
RE_JSON_SECTION = re.compile(r"^\s*\"(?P<name>(?:dev|peer|optional|bundled)?[dD]ependencies)\""
                             r"\s*:\s*\{\s*$")
RE_SETUP_NAME = re.compile(r"[\"']?\b([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:[<>=!~;\"',]|$)")
RE_GO_REQ = re.compile(r"^\s*(?:require\s+)?(?P<name>[\w.-]+(?:/[\w.-]+)+)\s+v\S+")
RE_GEM = re.compile(r"^\s*gem\s+[\"'](?P<name>[\w.-]+)[\"']")
RE_JAVA = re.compile(r"(?P<name>software\.amazon\.awssdk|com\.amazonaws|"
                     r"software\.amazon\.awscdk)")


def normalize_dependency(name: str) -> str:
    """PEP 503 normalisation for Python names; npm names only lower-cased."""
    lowered = name.strip().lower()
    return lowered if lowered.startswith("@") else re.sub(r"[-_.]+", "-", lowered)


def classify_dependency(name: str) -> Optional[str]:
    """Return ``tool-dependency``, ``sdk-dependency`` or None for a package name."""
    norm = normalize_dependency(name)
    raw = name.strip().lower()
    if norm in TOOL_DEPENDENCIES or raw in TOOL_DEPENDENCIES:
        return "tool-dependency"
    if norm in SDK_DEPENDENCIES or raw in SDK_DEPENDENCIES:
        return "sdk-dependency"
    if raw.startswith(SDK_PREFIXES) or norm.startswith(SDK_PREFIXES):
        return "sdk-dependency"
    return None


def _emit(ctx: Context, number: int, name: str, evidence: str,
          through: Optional[int] = None) -> None:
    kind = classify_dependency(name)
    if kind:
        ctx.emit_line(number, kind, evidence, remove=kind == "tool-dependency", through=through)


def _requirements(ctx: Context) -> None:
    """requirements*.txt: a removed requirement takes its backslash-continued lines with it
    (pip-compile's ``--hash`` lines), and the ``# via`` comments pip-compile puts under it."""
    lines = list(ctx.lines.lines())
    for index, (number, line) in enumerate(lines):
        m = RE_REQ_LINE.match(line)
        if not m or line.lstrip().startswith(("#", "-")) or line[:1].isspace():
            continue
        last = index
        while last + 1 < len(lines) and lines[last][1].rstrip().endswith("\\"):
            last += 1
        while last + 1 < len(lines) and lines[last + 1][1].startswith(("    # via", "  # via")):
            last += 1
        _emit(ctx, number, m.group("name"), line.strip().rstrip("\\").strip(),
              lines[last][0] if last > index else None)


def _toml(ctx: Context) -> None:
    section = ""
    in_array = False
    for number, line in ctx.lines.lines():
        sec = RE_TOML_SECTION.match(line)
        if sec:
            section, in_array = sec.group("name").lower(), False
            continue
        if RE_TOML_ARRAY_START.match(line) or \
                RE_TOML_ANY_ARRAY.match(line) and "dependenc" in section:
            in_array = not line.rstrip().endswith("]")
        m = RE_TOML_STR_DEP.match(line) if in_array else None
        if m is None and ("dependenc" in section or section in ("packages", "dev-packages")):
            m = RE_TOML_KEY_DEP.match(line)
            if m and m.group("name") in ("python",):
                m = None
        if in_array and line.strip().startswith("]"):
            in_array = False
        if m:
            _emit(ctx, number, m.group("name"), line.strip())


def _package_json(ctx: Context) -> None:
    section = ""
    for number, line in ctx.lines.lines():
        sec = RE_JSON_SECTION.match(line)
        if sec:
            section = sec.group("name")
            continue
        if section and line.strip().startswith("}"):
            section = ""
            continue
        m = RE_JSON_DEP.match(line) if section else None
        if m:
            _emit(ctx, number, m.group("name"), line.strip().rstrip(","))


def _setup(ctx: Context) -> None:
    for number, line in ctx.lines.lines():
        for m in RE_SETUP_NAME.finditer(line):
            kind = classify_dependency(m.group(1))
            if kind and (line.startswith((" ", "\t")) or "'" in line or '"' in line):
                ctx.emit_line(number, kind, line.strip())
                break


def _go_mod(ctx: Context) -> None:
    for number, line in ctx.lines.lines():
        m = RE_GO_REQ.match(line)
        if m and m.group("name").startswith(GO_AWS_MODULES):
            ctx.emit_line(number, "sdk-dependency", line.strip())


def _gemfile(ctx: Context) -> None:
    for number, line in ctx.lines.lines():
        m = RE_GEM.match(line)
        kind = classify_dependency(m.group("name")) if m else None
        if kind:
            ctx.emit_line(number, kind, line.strip())


def _java_build(ctx: Context) -> None:
    for number, line in ctx.lines.lines():
        if RE_JAVA.search(line):
            ctx.emit_line(number, "sdk-dependency", line.strip()[:160])


def detect_dependencies(ctx: Context) -> None:
    """Dependency manifests, line by line, by the manifest's file name."""
    lower = ctx.role.lower
    if is_requirements(ctx.path):
        _requirements(ctx)
    elif lower in ("pyproject.toml", "pipfile", "cargo.toml"):
        _toml(ctx)
    elif lower == "package.json":
        _package_json(ctx)
    elif lower in ("setup.cfg", "setup.py"):
        _setup(ctx)
    elif lower == "go.mod":
        _go_mod(ctx)
    elif lower in ("gemfile", "gems.rb"):
        _gemfile(ctx)
    elif lower in ("pom.xml", "build.gradle", "build.gradle.kts"):
        _java_build(ctx)
