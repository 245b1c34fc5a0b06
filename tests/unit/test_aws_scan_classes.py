"""The remnant classes a legacy repository shows beyond dependency manifests.

SDK imports in code, environment templates under the names teams use, Serverless files found
by content, Terraform state and modules in AWS, and the ECR login pipeline, which a fix
replaces as a whole or leaves alone. Each class has cases here, a place in the ``legacy``
fixture tree, and generated cases in ``test_aws_properties.py``.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import List, Optional, Set, Tuple

import pytest

from ansible_collections.hearth.platform.plugins.module_utils import aws_scan as core
from ansible_collections.hearth.platform.plugins.module_utils.aws_scan import kinds

ROOT = Path(__file__).resolve().parents[2]
LEGACY = ROOT / "tests" / "fixtures" / "aws" / "legacy"
OWNER = core.Options(ghcr_owner="acme")
GHCR_LOGIN_SH = 'echo "$GHCR_TOKEN" | docker login ghcr.io -u "$GHCR_USER" --password-stdin'
LOGIN = ("aws ecr get-login-password --region eu-west-1 | docker login --username AWS "
         "--password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com")


def kinds_in(text: str, path: str) -> List[Tuple[int, str]]:
    return [(f.line, f.kind) for f in core.scan_text(text, path, OWNER)]


def fixed(text: str, path: str) -> Optional[str]:
    return core.plan_file(text, core.scan_text(text, path, OWNER), path, OWNER)


# ---------------------------------------------------------------------------------------------
# SDK use in code
# ---------------------------------------------------------------------------------------------
IMPORTS = [
    ("app.py", "import boto3\n"),
    ("app.py", "import os, boto3\n"),
    ("app.py", "    import botocore.session as bs\n"),
    ("app.py", "from botocore.config import Config\n"),
    ("app.py", "from aiobotocore.session import get_session\n"),
    ("infra/__main__.py", "import pulumi_aws as aws\n"),
    ("infra/app.py", "from aws_cdk import aws_s3 as s3\n"),
    ("types.pyi", "import mypy_boto3_s3\n"),
    ("index.ts", 'import * as aws from "@pulumi/aws";\n'),
    ("index.ts", "import { S3Client } from '@aws-sdk/client-s3';\n"),
    ("server.js", 'const AWS = require("aws-sdk");\n'),
    ("server.cjs", "const s3 = require( 'aws-sdk/clients/s3' );\n"),
    ("lazy.mjs", 'const m = await import("@aws-sdk/client-sqs");\n'),
    ("side.ts", 'import "aws-sdk/global";\n'),
    ("stack.ts", 'import * as cdk from "aws-cdk-lib";\n'),
    ("handler.ts", 'import type { Handler } from "aws-lambda";\n'),
    ("main.go", 'import "github.com/aws/aws-sdk-go-v2/service/s3"\n'),
    ("main.go", 'import (\n\t"fmt"\n\ts3 "github.com/aws/aws-sdk-go/service/s3"\n)\n'),
    ("Store.java", "import software.amazon.awssdk.services.s3.S3Client;\n"),
    ("Queue.kt", "import com.amazonaws.services.sqs.AmazonSQS\n"),
]
NOT_IMPORTS = [
    ("app.py", "import botox\n"),
    ("app.py", "from awesome import x\n"),
    ("app.py", "# import boto3 once we are on AWS\n"),
    ("app.py", 'TEXT = "import boto3"\n'),
    ("app.py", "from myapp.aws_helpers import x\n"),
    ("index.ts", 'import x from "./aws-sdk-wrapper";\n'),
    ("index.ts", 'import x from "awesome-sdk";\n'),
    ("main.go", 'import "github.com/awslabs/smithy-go"\n'),
    ("notes.md", "import boto3\n"),
]


@pytest.mark.parametrize("path,text", IMPORTS, ids=[t.strip()[:40] for _, t in IMPORTS])
def test_sdk_imports_are_found_in_every_language(path: str, text: str) -> None:
    found = [f for f in core.scan_text(text, path) if f.kind == "sdk-import"]
    assert len(found) == 1, [f.to_dict() for f in core.scan_text(text, path)]
    assert not found[0].fixable
    assert core.might_contain_aws(text.encode(), path), "the prefilter would skip this file"


@pytest.mark.parametrize("path,text", NOT_IMPORTS, ids=[t.strip()[:40] for _, t in NOT_IMPORTS])
def test_near_miss_imports_are_not_findings(path: str, text: str) -> None:
    assert "sdk-import" not in {k for _, k in kinds_in(text, path)}


def test_import_advice_follows_the_module() -> None:
    advice = {f.evidence: f.suggestion for f in core.scan_text(
        "import pulumi_aws\nimport aws_cdk\nimport aws_lambda_powertools\nimport boto3\n",
        "x.py")}
    assert "Pulumi" in advice["import pulumi_aws"]
    assert "CDK" in advice["import aws_cdk"]
    assert "Lambda" in advice["import aws_lambda_powertools"]
    assert "MinIO" in advice["import boto3"]


def test_manifests_skip_the_prefilter() -> None:
    # chalice, mangum and zappa name no AWS word; the manifest is read anyway.
    text = b"chalice==1.31\nmangum\nzappa\n"
    assert not core.might_contain_aws(text, "requirements.txt")
    root = LEGACY
    findings, _ = core.scan_paths(str(root), ["requirements.txt"])
    names = {f.evidence.split("=")[0] for f in findings}
    assert {"mangum", "chalice", "zappa", "boto3"} <= names


# ---------------------------------------------------------------------------------------------
# Environment files and templates
# ---------------------------------------------------------------------------------------------
ENV_NAMES = [".env", ".env.example", ".env.sample", ".env.template", ".env.production.local",
             "example.env", "sample.env", "prod.env", "env.template", "env.example", "env.sample",
             ".envrc", "worker.env.sample", ".env.dist", "env-example", "env_sample",
             ".env.j2", "docker.env.tmpl"]
NOT_ENV_NAMES = ["environment.py", "env.py", "envoy.yaml", ".envoy", "venv.cfg", "env.go",
                 "settings.ini", "prevent.txt", "env.d", "env.sh"]


@pytest.mark.parametrize("name", ENV_NAMES)
def test_environment_templates_are_env_files(name: str) -> None:
    assert core.is_env_file(name)
    text = ("AWS_REGION=eu-west-1\nDATABASE_URL=postgres://u:p@db.abc.eu-west-1.rds."
            "amazonaws.com:5432/app\n")
    got = kinds_in(text, f"config/{name}")
    assert (1, "aws-env-var") in got and (2, "rds-endpoint") in got
    assert fixed(text, f"config/{name}") == "AWS_REGION=eu-west-1\nDATABASE_URL=${DATABASE_URL}\n"


@pytest.mark.parametrize("name", NOT_ENV_NAMES)
def test_other_names_are_not_env_files(name: str) -> None:
    assert not core.is_env_file(name)


# ---------------------------------------------------------------------------------------------
# Serverless Framework, by content
# ---------------------------------------------------------------------------------------------
SLS_BLOCK = "service: api\nprovider:\n  name: aws\n  runtime: python3.12\n"
SLS_INLINE = "service: api\nprovider: aws\n"
SLS_FRAMEWORK = "frameworkVersion: '3'\nprovider:\n    region: eu-west-1\n    name: 'aws'\n"
SLS_FULL = ("service: api\nframeworkVersion: '3'\nprovider:\n  name: aws  # Lambda\n"
            "functions:\n  api:\n    handler: api.main\n")


@pytest.mark.parametrize("path", ["serverless.yml", "serverless-api.yml", "serverless.prod.yml",
                                  "deploy/serverless.yaml"])
@pytest.mark.parametrize("text", [SLS_BLOCK, SLS_INLINE, SLS_FRAMEWORK, SLS_FULL])
def test_serverless_files_are_found_by_content_and_deleted(path: str, text: str) -> None:
    found = [f for f in core.scan_text(text, path) if f.kind == "serverless-aws"]
    assert len(found) == 1 and found[0].delete_file and found[0].fixable
    assert fixed(text, path) is None


@pytest.mark.parametrize("path", ["sls/api.yaml", "deploy/worker.yml"])
def test_serverless_services_under_other_names_are_reported_not_deleted(path: str) -> None:
    [found] = [f for f in core.scan_text(SLS_FULL, path) if f.kind == "serverless-aws"]
    assert not found.fixable and "delete the file" in found.suggestion
    assert fixed(SLS_FULL, path) == SLS_FULL
    # Without the framework's own keys, another name is not enough to call it Serverless.
    assert kinds_in(SLS_BLOCK, path) == []


@pytest.mark.parametrize("path,text", [
    ("k8s.yml", "apiVersion: v1\nprovider:\n  name: aws\n"),  # no framework keys
    ("serverless-gcp.yml", "service: api\nprovider:\n  name: google\n"),
    ("ci.yml", "service: api\nlabels:\n  provider: aws\n"),  # provider not top-level
    # external-dns's Helm values: service: and provider: aws, no functions
    ("values.yaml", "service:\n  port: 7979\nprovider:\n  name: aws\n"),
    ("values.yaml", "service: x\nprovider: aws\n"),
    # name: aws-migrated one level down is not the provider's name
    ("serverless.yml", "service: api\nprovider:\n  name: google\n  stage:\n    name: aws\n"),
    ("serverless.yml", "service: api\nprovider:\n  name: aws-migrated\n"),
])
def test_yaml_that_is_not_serverless_on_aws_is_left_alone(path: str, text: str) -> None:
    assert "serverless-aws" not in {k for _, k in kinds_in(text, path)}
    assert fixed(text, path) == text


# ---------------------------------------------------------------------------------------------
# Terraform: state in AWS, and AWS named only through a module source
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", [
    "terraform-aws-modules/vpc/aws",
    "terraform-aws-modules/eks/aws//modules/karpenter",
    "app.terraform.io/acme/network/aws",
    "registry.terraform.io/terraform-aws-modules/s3-bucket/aws",
    "git::https://github.com/cloudposse/terraform-aws-ecs.git?ref=v1.0.0",
    "github.com/acme/terraform-aws-service",
])
def test_terraform_modules_from_aws_sources_are_found(source: str) -> None:
    text = f'module "m" {{\n  source = "{source}"\n}}\n'
    found = [f for f in core.scan_text(text, "infra/m.tf") if f.kind == "terraform-aws"]
    assert len(found) == 1 and found[0].line == 2
    assert found[0].delete_file  # the file holds nothing but AWS


@pytest.mark.parametrize("source", ["hashicorp/consul/google", "./modules/app",
                                    "git::https://github.com/acme/terraform-google-net.git"])
def test_other_module_sources_are_not_aws(source: str) -> None:
    assert kinds_in(f'module "m" {{\n  source = "{source}"\n}}\n', "m.tf") == []


def test_a_file_mixing_aws_and_other_modules_is_left_to_a_person() -> None:
    text = ('module "a" {\n  source = "terraform-aws-modules/vpc/aws"\n}\n'
            'module "b" {\n  source = "grafana/dashboards/grafana"\n}\n')
    [finding] = core.scan_text(text, "m.tf")
    assert finding.kind == "terraform-aws" and not finding.fixable
    assert fixed(text, "m.tf") == text


@pytest.mark.parametrize("path,text,lines", [
    ("backend.tf", 'terraform {\n  backend "s3" {\n    bucket = "st"\n'
     '    dynamodb_table = "locks"\n  }\n}\n', [2, 4]),
    ("remote.tf", 'data "terraform_remote_state" "n" {\n  backend = "s3"\n}\n', [2]),
    ("terragrunt.hcl", 'remote_state {\n  backend = "s3"\n  config = {\n'
     '    dynamodb_table = "locks"\n  }\n}\n', [2, 4]),
])
def test_terraform_state_in_aws_is_reported_and_never_deleted(path: str, text: str,
                                                              lines: List[int]) -> None:
    state = [f for f in core.scan_text(text, path) if f.kind == "terraform-state"]
    assert [f.line for f in state] == lines
    assert all(f.service == "iac" and not f.fixable for f in state)
    assert fixed(text, path) == text
    # Even next to AWS-only resources, a file that holds state settings is not deleted.
    mixed = text + 'resource "aws_s3_bucket" "b" {}\n'
    assert fixed(mixed, path) == mixed


# ---------------------------------------------------------------------------------------------
# The ECR login: replaced as a whole, or left untouched and reported
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path,line,expected", [
    ("deploy.sh", LOGIN, GHCR_LOGIN_SH),
    ("deploy.sh", "  " + LOGIN + "  ", "  " + GHCR_LOGIN_SH + "  "),
    ("deploy.sh", LOGIN.replace("| docker", "| sudo docker"), GHCR_LOGIN_SH),
    ("Makefile", "\t" + LOGIN.replace("123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                                      "$(REGISTRY)"),
     '\techo "$$GHCR_TOKEN" | docker login ghcr.io -u "$$GHCR_USER" --password-stdin'),
    (".github/workflows/ci.yml", "      - run: " + LOGIN,
     '      - run: echo "${{ secrets.GITHUB_TOKEN }}" | docker login ghcr.io -u '
     '"${{ github.actor }}" --password-stdin'),
])
def test_a_whole_ecr_login_becomes_the_ghcr_login(path: str, line: str, expected: str) -> None:
    text = f"{line}\n"
    logins = [f for f in core.scan_text(text, path, OWNER) if f.kind == "ecr-login"]
    assert len(logins) == 1 and logins[0].fixable
    assert fixed(text, path) == f"{expected}\n"


@pytest.mark.parametrize("path,text", [
    ("deploy.sh", LOGIN + " && docker push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/a:1\n"),
    ("deploy.sh", LOGIN + "; echo ok\n"),
    ("deploy.sh", LOGIN + " # log in\n"),
    ("deploy.sh", f'sh -c "{LOGIN}"\n'),
    ("deploy.sh", LOGIN.replace(" | docker", " \\\n  | docker") + "\n"),
    ("deploy.sh", "docker login -u AWS -p \"$(aws ecr get-login-password)\" "
                  "123456789012.dkr.ecr.eu-west-1.amazonaws.com\n"),
    ("deploy.sh", "$(aws ecr get-login --no-include-email --region eu-west-1)\n"),
    ("Dockerfile", f"RUN {LOGIN}\n"),
])
def test_an_ecr_login_that_goes_on_is_reported_and_left_untouched(path: str, text: str) -> None:
    findings = core.scan_text(text, path, OWNER)
    assert {f.kind for f in findings} & {"ecr-login", "aws-cli-call"}
    assert fixed(text, path) == text, "a partial rewrite would leave a broken command"


def test_no_fixed_line_mixes_the_aws_cli_and_ghcr(tmp_path: Path) -> None:
    repo = tmp_path / "legacy"
    shutil.copytree(LEGACY, repo)
    findings, _ = core.scan_tree(str(repo), OWNER)
    core.backup_and_apply(str(repo), core.plan_fixes(str(repo), findings, OWNER),
                          str(tmp_path / "backup"))
    for path in repo.rglob("*"):
        if path.is_file():
            for line in path.read_text().splitlines():
                assert not (re.search(r"\baws\s+ecr\b", line) and "ghcr.io" in line), \
                    f"{path.relative_to(repo)}: {line}"
    after, _ = core.scan_tree(str(repo), OWNER)
    assert not [f for f in after if f.fixable]
    login = (repo / "scripts" / "login.sh").read_text().splitlines()
    assert login[2] == GHCR_LOGIN_SH
    assert login[3].startswith("aws ecr get-login-password | docker login")
    assert login[3].endswith("123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.4.0")


# ---------------------------------------------------------------------------------------------
# The legacy tree as a whole, and the advice
# ---------------------------------------------------------------------------------------------
def test_every_file_of_the_legacy_tree_is_reported() -> None:
    findings, _ = core.scan_tree(str(LEGACY), OWNER)
    reported: Set[str] = {f.path for f in findings}
    files = {str(p.relative_to(LEGACY)) for p in LEGACY.rglob("*") if p.is_file()}
    assert files - reported == {"README.md", "deploy/k8s.yml", "infra/pulumi-ts/Pulumi.yaml"}
    classes = {"sdk-import", "aws-env-var", "serverless-aws", "terraform-state",
               "terraform-aws", "ecr-login"}
    assert classes <= {f.kind for f in findings}


def _advice_texts() -> List[str]:
    texts = [k.advice for k in core.KINDS.values()]
    for table in (kinds.ARN_ADVICE, kinds.VAR_ADVICE, kinds.ACTION_ADVICE, kinds.CLI_ADVICE,
                  kinds.SDK_ADVICE):
        texts += list(table.values())
    for tree in ("app", "legacy"):
        texts += [f.suggestion for f in core.scan_tree(str(LEGACY.parent / tree), OWNER)[0]]
    return texts


def test_advice_names_only_playbooks_and_docs_that_exist() -> None:
    named = set()
    for text in _advice_texts():
        named |= set(re.findall(r"(?:playbooks|docs)/[\w.-]+\.(?:yml|md)", text))
    assert "playbooks/ci_workflow.yml" in named and "docs/vercel-ghcr.md" in named
    missing = sorted(p for p in named if not (ROOT / p).is_file())
    assert missing == []


# ---------------------------------------------------------------------------------------------
# Rewrites that must not happen, and secrets that must not show
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path,text", [
    # An ECR login outside the files the CLI rule reads, or split over lines: the host alone
    # must never become ghcr.io (an AWS token would be sent to GHCR).
    (".gitlab-ci.yml", "  - " + LOGIN + "\n"),
    ("Jenkinsfile", f"sh '{LOGIN}'\n"),
    ("deploy.sh", LOGIN.replace(" | docker", " |\n  docker") + "\n"),
    ("deploy.sh", "TOKEN=$(aws ecr get-login-password)\ndocker login -u AWS -p \"$TOKEN\" "
                  "123456789012.dkr.ecr.eu-west-1.amazonaws.com\n"),
    # A URL inside a longer string, a docstring or an f-string is text, not code.
    ("a.py", "import os\nLOGO = '<img src=\"https://assets.s3.amazonaws.com/logo.png\">'\n"),
    ("a.py", '"""https://assets.s3.amazonaws.com/logo.png"""\n'),
    ("a.py", "import os\nX = f\"{'https://assets.s3.amazonaws.com/logo.png'}\"\n"),
    ("a.jsx", '<img src="https://assets.s3.amazonaws.com/logo.png" />\n'),
    ("a.js", "const h = '<a href=\"https://db.abc.eu-west-1.rds.amazonaws.com\">';\n"),
    # The host inside another scheme's URL.
    ("app.properties", "url=r2dbc:postgresql://db.abc.eu-west-1.rds.amazonaws.com:5432/app\n"),
    ("app.properties", "url=jdbc:aws-wrapper:postgresql://db.abc.eu-west-1.rds.amazonaws.com/a\n"),
])
def test_text_that_only_looks_like_code_is_left_alone(path: str, text: str) -> None:
    assert core.scan_text(text, path, OWNER), "the remnant is still reported"
    assert fixed(text, path) == text


def test_import_os_in_a_docstring_does_not_count() -> None:
    text = '"""Example:\n\nimport os\n"""\nURL = "https://assets.s3.amazonaws.com/k"\n'
    after = fixed(text, "a.py")
    assert after is not None and after.count("import os") == 2
    compile(after, "a.py", "exec")


def test_hash_pinned_tool_requirements_go_with_their_hashes() -> None:
    text = ("flask==3.0 \\\n    --hash=sha256:aaaa\n    # via -r requirements.in\n"
            "awscli==1.32.0 \\\n    --hash=sha256:bbbb \\\n    --hash=sha256:cccc\n"
            "    # via -r requirements.in\nboto3==1.0\n")
    assert fixed(text, "requirements/prod.txt") == (
        "flask==3.0 \\\n    --hash=sha256:aaaa\n    # via -r requirements.in\nboto3==1.0\n")


@pytest.mark.parametrize("path,text,secret", [
    ("setup.sh", "aws configure set aws_secret_access_key "
                 "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("app.py", 'import boto3; c = boto3.client("s3", aws_access_key_id="AKIAIOSFODNN7EXAMPLE")\n',
     "AKIAIOSFODNN7EXAMPLE"),
    ("cfg.yml", "url: https://bucket.s3.amazonaws.com/k?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F"
                "2024&X-Amz-Signature=0123456789abcdef\n", "0123456789abcdef"),
    ("cfg.yml", "db: postgresql://u@db.abc.eu-west-1.rds.amazonaws.com/app?password=hunter2hunter2\n",
     "hunter2hunter2"),
])
def test_no_report_shows_a_secret(path: str, text: str, secret: str) -> None:
    findings = [f.to_dict() for f in core.scan_text(text, path)]
    assert findings
    shown = repr(findings) + core.markdown(findings) + repr(core.sarif(findings))
    assert secret not in shown and "AKIAIOSFODNN7EXAMPLE" not in shown


@pytest.mark.parametrize("path,text,kind", [
    ("requirements/base.txt", "chalice==1.31\n", "sdk-dependency"),
    ("dev-requirements.txt", "awscli\n", "tool-dependency"),
    ("auth.ts", 'import { signIn } from "aws-amplify/auth";\n', "sdk-import"),
    (".envrc.example", "export AWS_PROFILE=prod\n", "aws-env-var"),
])
def test_more_spellings_are_found(path: str, text: str, kind: str, tmp_path: Path) -> None:
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    findings, _ = core.scan_tree(str(tmp_path))
    assert kind in {f.kind for f in findings}


@pytest.mark.parametrize("doc,kinds_found,deleted", [
    ({"provider": {"aws": {}}, "resource": {"aws_s3_bucket": {"b": {}}},
      "terraform": {"backend": {"s3": {"bucket": "state"}}}},
     ["terraform-aws", "terraform-state"], False),
    ({"provider": {"aws": {}}, "resource": {"aws_s3_bucket": {"b": {}}}}, ["terraform-aws"], True),
    ({"module": {"vpc": {"source": "terraform-aws-modules/vpc/aws"}}}, ["terraform-aws"], True),
    ({"provider": [{"aws": {}}, {"google": {}}],
      "resource": {"google_storage_bucket": {"b": {}}}}, ["terraform-aws"], False),
    ({"resource": {"google_storage_bucket": {"b": {}}}}, [], False),
])
def test_terraform_json_syntax_is_read_like_hcl(doc: dict, kinds_found: List[str],
                                                deleted: bool) -> None:
    import json

    text = json.dumps(doc, indent=2) + "\n"
    findings = core.scan_text(text, "infra/main.tf.json")
    assert sorted(f.kind for f in findings) == sorted(kinds_found)
    after = core.plan_file(text, findings, "infra/main.tf.json")
    assert (after is None) is deleted
    if not deleted:
        assert after == text
