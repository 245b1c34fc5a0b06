# -*- coding: utf-8 -*-
"""Find AWS remnants in an application checkout and plan their mechanical replacements.

The scanner walks a repository and reports every reference to AWS that Hearth replaces: ECR
images, S3 / RDS / ElastiCache endpoints, ARNs, access keys, ``AWS_*`` variables, SDK and tool
dependencies, infrastructure-as-code and deployment files, ``aws-actions/*`` workflow steps.
Each finding carries a stable ``kind``, masked ``evidence``, a ``replacement`` and a
``fixable`` flag. Fixable findings carry an :class:`Edit` (or delete their file); the planner
turns them into new file contents, and :func:`apply_plans` writes them after a backup.

Only the standard library is used, so the Ansible module, the filter plugins and the benchmark
share this file. Speed comes from skipping vendored directories and binary files, and from a
cheap prefilter (a handful of substring checks on the lower-cased bytes) before any regular
expression runs; all patterns are compiled once, at import.
"""
from __future__ import annotations

import ast
import bisect
import json
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

# --------------------------------------------------------------------------------------------
# What to look at
# --------------------------------------------------------------------------------------------
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".hearth", "node_modules", "bower_components", "vendor", ".venv",
    "venv", ".tox", ".nox", "dist", "build", "__pycache__", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".hypothesis", ".terraform", ".serverless", "cdk.out", ".aws-sam", ".next",
    ".nuxt", ".gradle", ".idea", "site-packages", ".eggs",
})
MAX_FILE_SIZE = 2 * 1024 * 1024
SNIFF_BYTES = 8192
# Lower-cased substrings at least one of which every content rule needs; a file with none of
# them is skipped before decoding.
PREFILTER_TOKENS = (b"aws", b"s3", b"boto", b"akia", b"asia", b"serverless",
                    b"containerdefinitions", b"amazon")

CODE_LANGS = {".py": "python", ".js": "js", ".mjs": "js", ".cjs": "js", ".jsx": "js",
              ".ts": "js", ".tsx": "js", ".sh": "shell", ".bash": "shell", ".zsh": "shell"}
CONFIG_SUFFIXES = frozenset({".yml", ".yaml", ".json", ".toml", ".ini", ".cfg", ".conf",
                             ".properties", ".env"})

# --------------------------------------------------------------------------------------------
# Kinds: stable ids, the AWS service they belong to, and the default advice.
# --------------------------------------------------------------------------------------------
KINDS: Dict[str, Tuple[str, str]] = {
    "ecr-image": ("ecr", "push the image to GHCR: ghcr.io/<owner>/<name>:<tag>"),
    "ecr-registry": ("ecr", "use ghcr.io/<owner> as the registry"),
    "ecr-public-image": ("ecr", "mirror the image to GHCR or use its Docker Hub original"),
    "s3-uri": ("s3", "keep the URI; point the client at MinIO with S3_ENDPOINT_URL "
                     "(boto3: endpoint_url, Hadoop: fs.s3a.endpoint) and create the bucket"),
    "s3-endpoint": ("s3", "${S3_ENDPOINT_URL}/<bucket>/<key> (MinIO, path-style)"),
    "rds-endpoint": ("rds", "Postgres on the data host: ${DATABASE_URL} (or ${POSTGRES_HOST})"),
    "elasticache-endpoint": ("elasticache", "Redis on the data host: ${REDIS_URL} "
                                            "(or ${REDIS_HOST})"),
    "arn": ("iam", "remove: Hearth has no AWS account; grant access with Hearth roles"),
    "access-key-id": ("credentials", "deactivate the key in IAM, remove it from the file and "
                                     "from git history; MinIO keys live in ansible-vault"),
    "secret-access-key": ("credentials", "deactivate the key in IAM, remove the value from the "
                                         "file and from git history"),
    "aws-env-var": ("config", "remove, or rename to the Hearth service's variable"),
    "sdk-dependency": ("dependency", "S3 clients keep working against MinIO with an endpoint "
                                     "URL; other AWS services need code changes, then remove"),
    "tool-dependency": ("dependency", "remove the dependency (AWS deployment tooling)"),
    "terraform-aws": ("iac", "delete: Hearth's roles and inventories replace these resources"),
    "pulumi-aws": ("iac", "retire the Pulumi program; Hearth's roles replace its resources"),
    "cdk-app": ("iac", "retire the CDK app (cdk.json and its source); Hearth's roles replace it"),
    "cloudformation-template": ("iac", "delete the template; Hearth's playbooks deploy instead"),
    "serverless-aws": ("iac", "delete serverless.yml; run the handler as an app container"),
    "ecs-task-definition": ("iac", "delete the task definition; the apps play runs containers"),
    "aws-actions-step": ("ci", "replace the step (see the hint)"),
    "aws-cli-call": ("cli", "replace the AWS CLI call (see the hint)"),
}

# --------------------------------------------------------------------------------------------
# Patterns (compiled once)
# --------------------------------------------------------------------------------------------
_REGION = r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d"
_PATH_CHARS = r"[^\s\"'<>`(){}\[\],;|\\]"
# A path runs to the first delimiter, without a trailing sentence dot or colon.
_PATH = r"(?:" + _PATH_CHARS + r"*(?<![.:]))"
_SCHEME = r"(?P<scheme>(?:jdbc:)?[a-z][a-z0-9+.-]*)://(?P<userinfo>[^@\s/\"'<>]*@)?"

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
RE_ARN = re.compile(r"(?<![\w-])arn:aws(?:-cn|-us-gov|-iso(?:-[a-z])?)?:(?P<service>[a-z0-9-]+)"
                    r":[a-z0-9-]*:(?:\d{12}|aws)?:[^\s\"'<>`,;)\]{}=$]+")
RE_KEY_ID = re.compile(r"(?<![A-Za-z0-9])(?P<key>(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})"
                       r"(?![A-Za-z0-9])")
RE_SECRET = re.compile(r"(?i)(?P<name>aws_?secret_?(?:access_?)?key|secret_?access_?key)"
                       r"[\"']?\s*[:=]\s*[\"']?(?P<secret>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])")
RE_AWS_VAR = re.compile(r"(?<![A-Za-z0-9_])AWS_[A-Z0-9_]+\b")
RE_AWS_ACTION = re.compile(r"uses:\s*[\"']?(?P<action>aws-actions/[\w.-]+)(?:@[\w./-]+)?")
RE_TF_AWS = re.compile(r"(?m)^\s*(?:provider\s+\"aws\"|(?:resource|data)\s+\"aws_\w+\"|"
                       r"source\s*=\s*\"(?:registry\.terraform\.io/)?hashicorp/aws\")")
RE_TF_BLOCK = re.compile(r"(?m)^\s*(?:resource|data)\s+\"(?P<type>\w+)\"|"
                         r"^\s*provider\s+\"(?P<provider>[\w-]+)\"")
RE_CFN = re.compile(r"(?m)^[\s{]*[\"']?AWSTemplateFormatVersion[\"']?\s*:|"
                    r"^[\s{,]*[\"']?Transform[\"']?\s*:\s*[\"']?AWS::Serverless")
RE_SLS_PROVIDER = re.compile(r"(?m)^provider:[ \t]*(?P<inline>[\"']?aws\b)?")
RE_SLS_NAME_AWS = re.compile(r"^[ \t]+name:[ \t]*[\"']?aws\b")
RE_PULUMI_AWS = re.compile(r"(?m)^\s*[\"']?aws:[\w-]+|\baws\b")
RE_ECS = re.compile(r"\"containerDefinitions\"\s*:")
RE_JSON_DANGLING_COMMA = re.compile(r",(\s*\n\s*[}\]])")
RE_CLI = re.compile(r"(?<![\w/.$-])aws(?:\s+--[\w-]+(?:[ =][^\s-]\S*)?)*\s+(?P<svc>[a-z][a-z0-9-]+)"
                    r"\s+[a-z]")
RE_IMPORT_OS = re.compile(r"(?m)^import os\s*(?:#.*)?$")

# Dependencies ------------------------------------------------------------------------------
# Deployment tooling: nothing imports it, so removing its line is safe (fixable).
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
    "aws-sdk-core", "aws-sigv4", "aws-config",
})
SDK_PREFIXES = ("@aws-sdk/", "@aws-cdk/", "@aws-amplify/", "@aws-lambda-powertools/",
                "@aws-crypto/", "aws-cdk.", "aws-cdk-", "mypy-boto3-", "types-boto3-",
                "types-aiobotocore", "aws-sdk-", "aws-smithy-", "serverless-")
GO_AWS_MODULES = ("github.com/aws/aws-sdk-go", "github.com/aws/aws-lambda-go",
                  "github.com/aws/aws-cdk-go", "github.com/aws/constructs-go",
                  "github.com/pulumi/pulumi-aws")
JAVA_AWS_GROUPS = ("software.amazon.awssdk", "com.amazonaws", "software.amazon.awscdk")

RE_REQ_LINE = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*"
                         r"(?:[<>=!~;@ ]|$)")
RE_TOML_STR_DEP = re.compile(r"^\s*[\"'](?P<name>[A-Za-z0-9@][A-Za-z0-9._/-]*)\s*"
                             r"(?:\[[^\]]*\])?\s*[^\"']*[\"']\s*,?\s*(?:#.*)?$")
RE_TOML_KEY_DEP = re.compile(r"^\s*[\"']?(?P<name>[A-Za-z0-9@][A-Za-z0-9._/-]*)[\"']?\s*=")
RE_TOML_SECTION = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")
RE_JSON_DEP = re.compile(r"^\s*\"(?P<name>[^\"]+)\"\s*:\s*\"[^\"]*\"\s*,?\s*$")
RE_JSON_SECTION = re.compile(r"^\s*\"(?P<name>(?:dev|peer|optional|bundled)?[dD]ependencies)\""
                             r"\s*:\s*\{\s*$")
RE_GO_REQ = re.compile(r"^\s*(?:require\s+)?(?P<name>[\w.-]+(?:/[\w.-]+)+)\s+v\S+")
RE_GEM = re.compile(r"^\s*gem\s+[\"'](?P<name>[\w.-]+)[\"']")
RE_CARGO = re.compile(r"^\s*(?P<name>aws-(?:sdk-[\w-]+|config|smithy-[\w-]+|"
                      r"lambda-events|types))\s*=")
RE_JAVA = re.compile(r"(?P<name>software\.amazon\.awssdk|com\.amazonaws|"
                     r"software\.amazon\.awscdk)")


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` (character offsets) with ``new``."""

    start: int
    end: int
    new: str


@dataclass
class Finding:
    """One AWS remnant; ``edit`` (or ``delete_file``) says how a fix rewrites it."""

    path: str
    line: int
    column: int
    kind: str
    evidence: str
    replacement: str
    fixable: bool = False
    edit: Optional[Edit] = None
    delete_file: bool = False
    needs_import_os: bool = False
    action: str = "manual"

    @property
    def service(self) -> str:
        """The AWS service (or area) the kind belongs to."""
        return KINDS[self.kind][0]

    def to_dict(self) -> Dict[str, object]:
        """Plain data for JSON and Ansible; never contains an unmasked secret."""
        return {"path": self.path, "line": self.line, "column": self.column,
                "kind": self.kind, "service": self.service, "evidence": self.evidence,
                "replacement": self.replacement, "fixable": self.fixable,
                "action": self.action}


@dataclass
class ScanStats:
    """What the walk saw; reported next to the findings."""

    files_scanned: int = 0
    bytes_scanned: int = 0
    files_matched: int = 0
    skipped_binary: int = 0
    skipped_large: int = 0
    skipped_dirs: int = 0
    skipped_symlinks: int = 0
    unreadable: int = 0

    def to_dict(self) -> Dict[str, int]:
        """Plain data for JSON and Ansible."""
        return dict(self.__dict__)


@dataclass
class FilePlan:
    """The new state of one file: ``after`` is None when the file is deleted."""

    path: str
    before: str
    after: Optional[str]
    findings: List[Finding] = field(default_factory=list)


@dataclass
class Options:
    """Scan settings: GHCR owner for ECR rewrites, extra directory names to skip, size cap."""

    ghcr_owner: str = ""
    skip_dirs: frozenset = SKIP_DIRS
    max_file_size: int = MAX_FILE_SIZE


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------
def mask_secret(value: str, head: int = 4, tail: int = 3) -> str:
    """``AKIAABCDEFGHIJKLMNOP`` -> ``AKIA****NOP``; short values become ``****``."""
    if len(value) <= head + tail + 4:
        return "****"
    return f"{value[:head]}****{value[len(value) - tail:]}"


def mask_userinfo(url: str) -> str:
    """Hide the password of ``scheme://user:password@host``."""
    return re.sub(r"(://[^:@/\s]*):[^@/\s]*@", r"\1:****@", url)


def redact(text: str) -> str:
    """Mask access key IDs, secret keys and URL passwords, for diffs shown to people."""
    text = RE_KEY_ID.sub(lambda m: mask_secret(m.group("key")), text)
    text = RE_SECRET.sub(lambda m: m.group(0).replace(m.group("secret"), "****"), text)
    return re.sub(r"(://[^:@/\s\"']*):[^@/\s\"']*@", r"\1:****@", text)


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


def file_role(relpath: str) -> Dict[str, object]:
    """Describe a file by its path: env file, compose file, workflow, manifest, language."""
    name = os.path.basename(relpath)
    lower = name.lower()
    suffix = os.path.splitext(lower)[1]
    parts = relpath.replace(os.sep, "/").split("/")
    is_env = lower == ".env" or lower.startswith(".env.") or lower.endswith(".env")
    is_compose = (lower.startswith(("docker-compose", "compose")) and
                  suffix in (".yml", ".yaml"))
    is_workflow = ".github" in parts and suffix in (".yml", ".yaml")
    lang = CODE_LANGS.get(suffix)
    config = is_env or suffix in CONFIG_SUFFIXES
    return {"name": name, "lower": lower, "suffix": suffix, "env": is_env,
            "compose": is_compose, "workflow": is_workflow, "lang": lang, "config": config,
            "vars": is_env or is_compose or is_workflow}


class _Lines:
    """Offset -> (line, column) lookups, built only when a file has a match."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: Optional[List[int]] = None

    @property
    def starts(self) -> List[int]:
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

    def lines(self) -> Iterator[Tuple[int, str]]:
        """Yield (1-based number, text without newline)."""
        for number, line in enumerate(self.text.split("\n"), start=1):
            yield number, line


# --------------------------------------------------------------------------------------------
# Endpoint rewrites: the form depends on the file type
# --------------------------------------------------------------------------------------------
def _endpoint_edit(text: str, start: int, end: int, var: str, rest: str,
                   role: Dict[str, object]) -> Tuple[Optional[Edit], bool]:
    """Plan ``${VAR}rest`` in config and shell files, an expression in Python and JS.

    In code, only a string literal that is exactly the endpoint is rewritten (the literal
    becomes an expression); anything else is left for a person. Returns the edit (or None)
    and whether Python needs ``import os``.
    """
    lang = role["lang"]
    if lang in ("python", "js"):
        quote = text[start - 1] if start > 0 else ""
        quotes = "\"'`" if lang == "js" else "\"'"
        if not quote or quote not in quotes or end >= len(text) or text[end] != quote:
            return None, False
        if lang == "python" and start > 1 and text[start - 2].isalpha():
            return None, False  # f"", b"", r"" literals keep their own rules
        if lang == "python":
            expr = (f'os.environ["{var}"]' if not rest
                    else f"f\"{{os.environ['{var}']}}{rest}\"")
            return Edit(start - 1, end + 1, expr), True
        expr = f"process.env.{var}" if not rest else f"`${{process.env.{var}}}{rest}`"
        return Edit(start - 1, end + 1, expr), False
    if lang == "shell":
        line_start = text.rfind("\n", 0, start) + 1
        if text.count("'", line_start, start) % 2:
            return None, False  # inside single quotes the shell would not expand it
        return Edit(start, end, f"${{{var}}}{rest}"), False
    if role["config"]:
        return Edit(start, end, f"${{{var}}}{rest}"), False
    return None, False


def _python_import_offset(text: str) -> Optional[int]:
    """Where ``import os`` goes: after the docstring and ``from __future__`` imports."""
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


# --------------------------------------------------------------------------------------------
# Detectors: each takes the file's text, its role and helpers, and yields findings
# --------------------------------------------------------------------------------------------
Emit = Callable[..., None]


def _detect_ecr(text: str, role: Dict[str, object], emit: Emit, opts: Options) -> None:
    if ".ecr" not in str(role["low"]):
        return
    owner = opts.ghcr_owner.lower() or "<owner>"
    for m in RE_ECR.finditer(text):
        if m.group("repo"):
            new = f"ghcr.io/{owner}/{m.group('repo')}{m.group('suffix') or ''}"
            emit(m.start(), "ecr-image", m.group(0), new,
                 Edit(m.start(), m.end(), new))
        else:
            # docker login takes a bare host; elsewhere the registry prefixes image names.
            line_start = text.rfind("\n", 0, m.start()) + 1
            new = "ghcr.io" if "login" in text[line_start:m.start()] else f"ghcr.io/{owner}"
            emit(m.start(), "ecr-registry", m.group(0), new, Edit(m.start(), m.end(), new))
    for m in RE_ECR_PUBLIC.finditer(text):
        alias, repo, suffix = m.group("alias"), m.group("repo"), m.group("suffix") or ""
        if alias == "docker" and repo.startswith("library/"):
            new = f"docker.io/{repo}{suffix}"
            emit(m.start(), "ecr-public-image", m.group(0), new, Edit(m.start(), m.end(), new))
        elif alias in ("lambda", "sam"):
            emit(m.start(), "ecr-public-image", m.group(0),
                 "AWS Lambda base image: rebuild on a plain base image (python:, node:)")
        else:
            new = f"ghcr.io/{owner}/{repo}{suffix}"
            emit(m.start(), "ecr-public-image", m.group(0), new + " (mirror it there first)",
                 Edit(m.start(), m.end(), new))


def _detect_s3(text: str, role: Dict[str, object], emit: Emit, opts: Options) -> None:
    low = str(role["low"])
    if "s3" not in low:
        return
    for m in RE_S3_URI.finditer(text) if "://" in low else ():
        hint = KINDS["s3-uri"][1]
        if m.group("scheme").lower() == "s3n":
            hint = "s3n:// is gone from Hadoop 3: use s3a:// with fs.s3a.endpoint (MinIO)"
        emit(m.start(), "s3-uri", m.group(0)[:160], hint)
    for regex in (RE_S3_VHOST, RE_S3_PATH) if "amazonaws.com" in low else ():
        for m in regex.finditer(text):
            rest = f"/{m.group('bucket')}{m.group('path') or ''}"
            if not m.group("web"):
                emit(m.start(), "s3-endpoint", m.group(0)[:160],
                     f"${{S3_ENDPOINT_URL}}{rest} (host without scheme: change by hand)")
                continue
            edit, needs_os = _endpoint_edit(text, m.start(), m.end(), "S3_ENDPOINT_URL",
                                            rest, role)
            emit(m.start(), "s3-endpoint", m.group(0)[:160],
                 edit.new if edit else f"${{S3_ENDPOINT_URL}}{rest}", edit,
                 needs_import_os=needs_os)


def _detect_db(text: str, role: Dict[str, object], emit: Emit, opts: Options) -> None:
    for regex, kind, url_var, host_var in ((RE_RDS, "rds-endpoint", "DATABASE_URL",
                                            "POSTGRES_HOST"),
                                           (RE_CACHE, "elasticache-endpoint", "REDIS_URL",
                                            "REDIS_HOST")):
        marker = ".rds.amazonaws." if regex is RE_RDS else ".cache.amazonaws."
        if marker not in str(role["low"]):
            continue
        for m in regex.finditer(text):
            evidence = mask_userinfo(m.group(0))[:160]
            scheme = (m.group("scheme") or "").lower()
            if scheme.startswith("jdbc:"):
                emit(m.start(), kind, evidence,
                     f"JDBC URL: build it from ${{{host_var}}} by hand")
                continue
            if scheme:
                var, rest = url_var, ""
            else:
                var, rest = host_var, (f":{m.group('port')}" if m.group("port") else "")
                rest += m.group("rest") or ""
            edit, needs_os = _endpoint_edit(text, m.start(), m.end(), var, rest, role)
            emit(m.start(), kind, evidence,
                 edit.new if edit else f"${{{var}}}{rest}", edit, needs_import_os=needs_os)


def _arn_hint(service: str) -> str:
    """Advice for an ARN by service."""
    return {
        "s3": "MinIO bucket: refer to it by name; access through MinIO policies",
        "secretsmanager": "ansible-vault variable (vault_<name>) per environment",
        "ssm": "ansible-vault or group_vars variable",
        "rds": "Postgres on the data host (DATABASE_URL)",
        "elasticache": "Redis on the data host (REDIS_URL)",
        "ecr": "GHCR repository ghcr.io/<owner>/<name>",
        "sagemaker": "vLLM / Ollama OpenAI-compatible route behind Caddy",
        "bedrock": "vLLM / Ollama OpenAI-compatible route behind Caddy",
    }.get(service, KINDS["arn"][1])


def _detect_ids(text: str, role: Dict[str, object], emit: Emit, opts: Options) -> None:
    low = str(role["low"])
    for m in RE_ARN.finditer(text) if "arn:aws" in low else ():
        emit(m.start(), "arn", m.group(0)[:160], _arn_hint(m.group("service")))
    for m in RE_KEY_ID.finditer(text) if ("akia" in low or "asia" in low or "abia" in low or
                                          "acca" in low) else ():
        emit(m.start(), "access-key-id", mask_secret(m.group("key")), KINDS["access-key-id"][1])
    for m in RE_SECRET.finditer(text) if "secret" in low else ():
        emit(m.start(), "secret-access-key",
             f"{m.group('name')}={mask_secret(m.group('secret'), 0, 0)}",
             KINDS["secret-access-key"][1])


_VAR_HINTS = {
    "AWS_ACCESS_KEY_ID": "MinIO access key (boto3 reads this name too); value from ansible-vault",
    "AWS_SECRET_ACCESS_KEY": "MinIO secret key (boto3 reads this name too); value from "
                             "ansible-vault",
    "AWS_ENDPOINT_URL": "S3_ENDPOINT_URL pointing at MinIO",
    "AWS_ENDPOINT_URL_S3": "S3_ENDPOINT_URL pointing at MinIO",
    "AWS_REGION": "MinIO region (us-east-1 unless configured) or remove",
    "AWS_DEFAULT_REGION": "MinIO region (us-east-1 unless configured) or remove",
}


def _detect_vars(text: str, role: Dict[str, object], emit: Emit, opts: Options) -> None:
    if not role["vars"] or "AWS_" not in text:
        return
    for m in RE_AWS_VAR.finditer(text):
        name = m.group(0)
        emit(m.start(), "aws-env-var", name, _VAR_HINTS.get(name, "remove"), dedupe_line=True)


_ACTION_HINTS = {
    "aws-actions/amazon-ecr-login": "docker/login-action with registry: ghcr.io and "
                                    "password: ${{ secrets.GITHUB_TOKEN }}",
    "aws-actions/configure-aws-credentials": "remove (no AWS account to log in to)",
    "aws-actions/amazon-ecs-render-task-definition": "remove; the apps play deploys",
    "aws-actions/amazon-ecs-deploy-task-definition": "run ansible-playbook playbooks/apps.yml",
}


def _detect_actions(text: str, role: Dict[str, object], emit: Emit, opts: Options) -> None:
    if not role["workflow"] and role["lower"] not in ("action.yml", "action.yaml") or \
            "aws-actions/" not in text:
        return
    for m in RE_AWS_ACTION.finditer(text):
        action = m.group("action")
        emit(m.start("action"), "aws-actions-step", m.group(0),
             _ACTION_HINTS.get(action, KINDS["aws-actions-step"][1]))


_CLI_HINTS = {
    "s3": "mc (MinIO client) or aws --endpoint-url \"$S3_ENDPOINT_URL\" s3 ...",
    "ecr": "echo \"$GHCR_TOKEN\" | docker login ghcr.io -u <user> --password-stdin",
    "ecs": "ansible-playbook playbooks/apps.yml",
    "secretsmanager": "ansible-vault view / a vault_<name> variable",
    "ssm": "ansible-vault view / a vault_<name> variable",
}
SHELL_NAMES = frozenset({"dockerfile", "makefile", "justfile", "procfile"})


def _detect_cli(text: str, role: Dict[str, object], emit: Emit, opts: Options) -> None:
    if not (role["lang"] == "shell" or role["workflow"] or role["lower"] in SHELL_NAMES or
            str(role["lower"]).startswith("dockerfile") or role["suffix"] == ".mk") or \
            "aws" not in text:
        return
    for m in RE_CLI.finditer(text):
        svc = m.group("svc")
        line_end = text.find("\n", m.start())
        command = text[m.start():line_end if line_end >= 0 else len(text)]
        emit(m.start(), "aws-cli-call", command.strip()[:120],
             _CLI_HINTS.get(svc, "remove (AWS API call)"))


def _whole_file(kind: str, line: int, evidence: str, emit_at_line: Emit,
                delete: bool, hint: Optional[str] = None) -> None:
    text = "(file deleted)" if delete else (hint or KINDS[kind][1])
    emit_at_line(line, kind, evidence, text, delete_file=delete)


def _detect_deploy(text: str, role: Dict[str, object], emit: Emit, emit_line: Emit,
                   lines: _Lines) -> None:
    lower, suffix = str(role["lower"]), str(role["suffix"])
    if suffix == ".tf" or lower.endswith(".tf.json"):
        m = RE_TF_AWS.search(text)
        if m:
            types = [(b.group("type") or "", b.group("provider") or "")
                     for b in RE_TF_BLOCK.finditer(text)]
            aws_only = all(t.startswith("aws_") if t else p == "aws" for t, p in types)
            _whole_file("terraform-aws", lines.pos(m.start())[0], m.group(0).strip(),
                        emit_line, aws_only,
                        None if aws_only else "remove the aws_ blocks; other providers stay")
    elif lower in ("pulumi.yaml", "pulumi.yml") or (lower.startswith("pulumi.") and
                                                     suffix in (".yaml", ".yml")):
        m = RE_PULUMI_AWS.search(text)
        if m:
            _whole_file("pulumi-aws", lines.pos(m.start())[0], m.group(0).strip()[:80],
                        emit_line, False)
    elif lower == "cdk.json":
        _whole_file("cdk-app", 1, "cdk.json", emit_line, False)
    elif lower == "samconfig.toml":
        _whole_file("cloudformation-template", 1, "samconfig.toml (SAM CLI settings)",
                    emit_line, True)
    elif lower in ("serverless.yml", "serverless.yaml"):
        m = RE_SLS_PROVIDER.search(text)
        if m and (m.group("inline") or _block_names_aws(text[m.end():])):
            _whole_file("serverless-aws", lines.pos(m.start())[0], "provider: aws",
                        emit_line, True)
    elif suffix in (".yml", ".yaml", ".json", ".template") and RE_CFN.search(text):
        m = RE_CFN.search(text)
        assert m is not None
        _whole_file("cloudformation-template", lines.pos(m.start())[0],
                    m.group(0).strip(), emit_line, True)
    elif suffix == ".json" and RE_ECS.search(text):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        items = data if isinstance(data, list) else [data]
        if any(isinstance(i, dict) and isinstance(i.get("containerDefinitions"), list)
               for i in items):
            m = RE_ECS.search(text)
            assert m is not None
            _whole_file("ecs-task-definition", lines.pos(m.start())[0],
                        "containerDefinitions", emit_line, True)


def _block_names_aws(after: str) -> bool:
    """Does the indented block that follows ``provider:`` say ``name: aws``?"""
    for line in after.split("\n")[1:]:
        if line.strip() and not line[:1].isspace():
            return False
        if RE_SLS_NAME_AWS.match(line):
            return True
    return False


def _detect_dependencies(text: str, role: Dict[str, object], emit_line: Emit,
                         lines: _Lines) -> None:
    """Dependency manifests, line by line; single-dependency lines of tools are removable."""
    lower = str(role["lower"])
    kind_of = classify_dependency
    if (lower.startswith("requirements") and lower.endswith((".txt", ".in"))) or \
            lower in ("constraints.txt", "requirements.txt"):
        for number, line in lines.lines():
            m = RE_REQ_LINE.match(line)
            if m and not line.lstrip().startswith(("#", "-")):
                kind = kind_of(m.group("name"))
                if kind:
                    emit_line(number, kind, line.strip(), remove=kind == "tool-dependency")
    elif lower in ("pyproject.toml", "pipfile", "cargo.toml"):
        section = ""
        in_array = False
        for number, line in lines.lines():
            sec = RE_TOML_SECTION.match(line)
            if sec:
                section, in_array = sec.group("name").lower(), False
                continue
            if re.match(r"^\s*[\w.-]*dependencies\s*=\s*\[", line) or \
                    re.match(r"^\s*[\w.-]+\s*=\s*\[\s*$", line) and "dependenc" in section:
                in_array = not line.rstrip().endswith("]")
            m = RE_TOML_STR_DEP.match(line) if in_array else None
            if m is None and ("dependenc" in section or section in ("packages", "dev-packages")):
                m = RE_TOML_KEY_DEP.match(line)
                if m and m.group("name") in ("python",):
                    m = None
            if in_array and line.strip().startswith("]"):
                in_array = False
            if m:
                kind = kind_of(m.group("name"))
                if kind:
                    emit_line(number, kind, line.strip(), remove=kind == "tool-dependency")
    elif lower == "package.json":
        section = ""
        for number, line in lines.lines():
            sec = RE_JSON_SECTION.match(line)
            if sec:
                section = sec.group("name")
                continue
            if section and line.strip().startswith("}"):
                section = ""
                continue
            m = RE_JSON_DEP.match(line) if section else None
            if m:
                kind = kind_of(m.group("name"))
                if kind:
                    emit_line(number, kind, line.strip().rstrip(","),
                              remove=kind == "tool-dependency")
    elif lower == "setup.cfg" or lower == "setup.py":
        for number, line in lines.lines():
            for m in re.finditer(r"[\"']?\b([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:[<>=!~;\"',]|$)",
                                 line):
                if kind_of(m.group(1)) and (line.startswith((" ", "\t")) or "'" in line or
                                            '"' in line):
                    emit_line(number, kind_of(m.group(1)) or "", line.strip())
                    break
    elif lower == "go.mod":
        for number, line in lines.lines():
            m = RE_GO_REQ.match(line)
            if m and m.group("name").startswith(GO_AWS_MODULES):
                emit_line(number, "sdk-dependency", line.strip())
    elif lower in ("gemfile", "gems.rb"):
        for number, line in lines.lines():
            m = RE_GEM.match(line)
            if m and kind_of(m.group("name")):
                emit_line(number, kind_of(m.group("name")) or "", line.strip())
    elif lower in ("pom.xml", "build.gradle", "build.gradle.kts"):
        for number, line in lines.lines():
            if RE_JAVA.search(line):
                emit_line(number, "sdk-dependency", line.strip()[:160])


# --------------------------------------------------------------------------------------------
# Scanning
# --------------------------------------------------------------------------------------------
def might_contain_aws(data: bytes) -> bool:
    """The cheap prefilter: does the file contain any token a rule needs?"""
    low = data.lower()
    return any(token in low for token in PREFILTER_TOKENS)


def scan_text(text: str, relpath: str, opts: Optional[Options] = None) -> List[Finding]:
    """Every finding in one file's text, in order of position."""
    opts = opts or Options()
    role = file_role(relpath)
    role["low"] = text.lower()
    lines = _Lines(text)
    findings: List[Finding] = []
    seen_lines: set = set()

    def emit(offset: int, kind: str, evidence: str, replacement: str,
             edit: Optional[Edit] = None, needs_import_os: bool = False,
             dedupe_line: bool = False) -> None:
        line, column = lines.pos(offset)
        if dedupe_line:
            if (kind, line, evidence) in seen_lines:
                return
            seen_lines.add((kind, line, evidence))
        findings.append(Finding(relpath, line, column, kind, evidence, replacement,
                                edit is not None, edit, needs_import_os=needs_import_os,
                                action="rewrite" if edit is not None else "manual"))

    def emit_line(line: int, kind: str, evidence: str, replacement: Optional[str] = None,
                  delete_file: bool = False, remove: bool = False) -> None:
        edit = None
        if remove:
            start, end = lines.line_span(line)
            edit = Edit(start, end, "")
        findings.append(Finding(relpath, line, 1, kind, evidence,
                                replacement or ("(line removed)" if remove else
                                                KINDS[kind][1]),
                                remove or delete_file, edit, delete_file=delete_file,
                                action=("delete-file" if delete_file else
                                        "remove-line" if remove else "manual")))

    _detect_deploy(text, role, emit, emit_line, lines)
    _detect_dependencies(text, role, emit_line, lines)
    for detector in (_detect_ecr, _detect_s3, _detect_db, _detect_ids, _detect_vars,
                     _detect_actions, _detect_cli):
        detector(text, role, emit, opts)
    if any(f.needs_import_os for f in findings) and not RE_IMPORT_OS.search(text) and \
            _python_import_offset(text) is None:
        for f in findings:  # no safe place for "import os": leave these to a person
            if f.needs_import_os:
                f.fixable, f.edit, f.action = False, None, "manual"
                f.needs_import_os = False
    findings.sort(key=lambda f: (f.line, f.column, f.kind))
    return findings


def iter_files(root: str, opts: Options, stats: ScanStats) -> Iterator[Tuple[str, str, int]]:
    """Yield (absolute path, relative path, size) of regular files to scan.

    Symbolic links are never followed, to files or directories, so nothing outside ``root``
    is read and nothing inside is read twice; they are counted as skipped.
    """
    stack = [root]
    prefix = len(os.path.join(root, ""))
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            stats.unreadable += 1
            continue
        for entry in entries:
            if entry.is_symlink():
                stats.skipped_symlinks += 1
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.name in opts.skip_dirs:
                    # .hearth holds our own reports: not counted, so a rescan reports the same
                    stats.skipped_dirs += entry.name != ".hearth"
                else:
                    stack.append(entry.path)
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            try:
                size = entry.stat(follow_symlinks=False).st_size
            except OSError:
                stats.unreadable += 1
                continue
            if size > opts.max_file_size:
                stats.skipped_large += 1
                continue
            yield entry.path, entry.path[prefix:], size


def _read_candidate(path: str, name: str, stats: ScanStats) -> Optional[str]:
    """The file's text when it is text and passes the prefilter, else None."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        stats.unreadable += 1
        return None
    stats.files_scanned += 1
    stats.bytes_scanned += len(data)
    if b"\0" in data[:SNIFF_BYTES]:
        stats.skipped_binary += 1
        return None
    if name.lower() != "cdk.json" and not might_contain_aws(data):
        return None
    return data.decode("utf-8", errors="surrogateescape")


def scan_tree(root: str, opts: Optional[Options] = None
              ) -> Tuple[List[Finding], ScanStats]:
    """Scan every eligible file under ``root``; findings sorted by path and position."""
    opts = opts or Options()
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise ValueError(f"not a directory: {root}")
    stats = ScanStats()
    findings: List[Finding] = []
    for path, rel, _size in iter_files(root, opts, stats):
        text = _read_candidate(path, os.path.basename(path), stats)
        if text is None:
            continue
        found = scan_text(text, rel, opts)
        if found:
            stats.files_matched += 1
            findings.extend(found)
    findings.sort(key=lambda f: (f.path, f.line, f.column, f.kind))
    return findings, stats


# --------------------------------------------------------------------------------------------
# Planning and applying fixes
# --------------------------------------------------------------------------------------------
def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """Apply non-overlapping edits (overlaps: the first one wins)."""
    out: List[str] = []
    cursor = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if edit.start < cursor:
            continue
        out.append(text[cursor:edit.start])
        out.append(edit.new)
        cursor = edit.end
    out.append(text[cursor:])
    return "".join(out)


def plan_file(text: str, findings: Sequence[Finding], path: str = "",
              opts: Optional[Options] = None) -> Optional[str]:
    """New contents for one file, or None when it is to be deleted.

    Overlapping matches (an ECR reference inside an S3 URL's path, say) keep only the first
    edit in one pass, so passes repeat, rescanning in between, until nothing fixable is left:
    a later run of the purge then has nothing to do.
    """
    after = _plan_once(text, findings, path)
    for _ in range(4):
        if after is None or after == text:
            break
        again = [f for f in scan_text(after, path, opts) if f.fixable]
        if not again:
            break
        text, after = after, _plan_once(after, again, path)
    return after


def _plan_once(text: str, findings: Sequence[Finding], path: str) -> Optional[str]:
    """One pass of :func:`plan_file`: apply the non-overlapping edits of ``findings``."""
    fixable = [f for f in findings if f.fixable]
    if any(f.delete_file for f in fixable):
        return None
    edits = [f.edit for f in fixable if f.edit is not None]
    if any(f.needs_import_os for f in fixable) and not RE_IMPORT_OS.search(text):
        offset = _python_import_offset(text)  # scan_text made sure there is one
        if offset is not None:
            edits.append(Edit(offset, offset, "import os\n"))
    after = apply_edits(text, edits)
    if path.endswith(".json") and any(f.action == "remove-line" for f in fixable):
        # A removed last member leaves "x": 1,\n} behind; valid JSON never has ",}" outside
        # a string, and a JSON string cannot hold a raw newline, so this only mends our edit.
        after = RE_JSON_DANGLING_COMMA.sub(r"\1", after)
    return after


def plan_fixes(root: str, findings: Sequence[Finding],
               opts: Optional[Options] = None) -> List[FilePlan]:
    """One plan per file that has fixable findings, in path order."""
    by_path: Dict[str, List[Finding]] = {}
    for finding in findings:
        if finding.fixable:
            by_path.setdefault(finding.path, []).append(finding)
    plans = []
    for rel in sorted(by_path):
        with open(os.path.join(root, rel), "rb") as handle:
            before = handle.read().decode("utf-8", errors="surrogateescape")
        after = plan_file(before, by_path[rel], rel, opts)
        if after != before:
            plans.append(FilePlan(rel, before, after, by_path[rel]))
    return plans


def backup_and_apply(root: str, plans: Sequence[FilePlan], backup_dir: str) -> Dict[str, object]:
    """Copy every touched file under ``backup_dir/files``, then write or delete it atomically.

    ``backup_dir/MANIFEST.json`` lists what was changed and deleted; copying ``files/`` back
    over the checkout undoes the rewrite.
    """
    root = os.path.abspath(root)
    changed: List[str] = []
    deleted: List[str] = []
    os.makedirs(backup_dir, mode=0o700, exist_ok=True)
    for plan in plans:
        src = os.path.join(root, plan.path)
        dst = os.path.join(backup_dir, "files", plan.path)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)
        if plan.after is None:
            os.unlink(src)
            deleted.append(plan.path)
            continue
        mode = stat.S_IMODE(os.stat(src).st_mode)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(src), prefix=".hearth-purge-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(plan.after.encode("utf-8", errors="surrogateescape"))
            os.chmod(tmp, mode)
            os.replace(tmp, src)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        changed.append(plan.path)
    manifest: Dict[str, object] = {"changed": changed, "deleted": deleted}
    with open(os.path.join(backup_dir, "MANIFEST.json"), "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True)
    return manifest


def summarize(findings: Iterable[Dict[str, object]]) -> Dict[str, object]:
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
