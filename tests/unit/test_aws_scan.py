"""The AWS scanner core: one test per kind, the walk's skipping rules, and rewrites."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import List, Optional

import pytest

from ansible_collections.hearth.platform.plugins.module_utils import aws_scan as core

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "aws"
OWNER = core.Options(ghcr_owner="acme")


def scan(text: str, path: str) -> List[core.Finding]:
    return core.scan_text(text, path, OWNER)


def only(findings: List[core.Finding], kind: str) -> core.Finding:
    matching = [f for f in findings if f.kind == kind]
    assert len(matching) == 1, [f.to_dict() for f in findings]
    return matching[0]


def fixed(text: str, path: str) -> Optional[str]:
    return core.plan_file(text, scan(text, path), path, OWNER)


# ---------------------------------------------------------------------------------------------
# One case per kind: (file, text, kind, fixable, expected text after the rewrite or None)
# ---------------------------------------------------------------------------------------------
CASES = [
    ("Dockerfile", "FROM 123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api:1.2\n",
     "ecr-image", True, "FROM ghcr.io/acme/team/api:1.2\n"),
    ("k8s.yaml", "image: 123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/api@sha256:"
     + "a" * 64 + "\n", "ecr-image", True, "image: ghcr.io/acme/api@sha256:" + "a" * 64 + "\n"),
    ("Makefile", "REGISTRY = 123456789012.dkr.ecr.eu-west-1.amazonaws.com\n", "ecr-registry",
     True, "REGISTRY = ghcr.io/acme\n"),
    ("compose.yaml", "image: public.ecr.aws/docker/library/postgres:16\n", "ecr-public-image",
     True, "image: docker.io/library/postgres:16\n"),
    ("compose.yaml", "image: public.ecr.aws/acme-alias/worker:3\n", "ecr-public-image", True,
     "image: ghcr.io/acme/worker:3\n"),
    ("Dockerfile", "FROM public.ecr.aws/lambda/python:3.12\n", "ecr-public-image", False, None),
    ("jobs.py", "SRC = 's3a://lake/raw/'\n", "s3-uri", False, None),
    ("notes.md", "see s3n://old-bucket/x.\n", "s3-uri", False, None),
    ("settings.yml", "url: https://assets.s3.amazonaws.com/img/logo.png\n", "s3-endpoint", True,
     "url: ${S3_ENDPOINT_URL}/assets/img/logo.png\n"),
    ("settings.yml", "url: https://assets.s3.eu-central-1.amazonaws.com\n", "s3-endpoint", True,
     "url: ${S3_ENDPOINT_URL}/assets\n"),
    ("settings.yml", "url: http://assets.s3-eu-central-1.amazonaws.com/a\n", "s3-endpoint", True,
     "url: ${S3_ENDPOINT_URL}/assets/a\n"),
    ("settings.yml", "url: https://s3.us-east-2.amazonaws.com/assets/a/b\n", "s3-endpoint", True,
     "url: ${S3_ENDPOINT_URL}/assets/a/b\n"),
    ("settings.yml", "host: assets.s3.amazonaws.com\n", "s3-endpoint", False, None),
    ("app.py", 'import os\nURL = "https://bk1.s3.amazonaws.com/k"\n', "s3-endpoint", True,
     'import os\nURL = f"{os.environ[\'S3_ENDPOINT_URL\']}/bk1/k"\n'),
    ("app.py", '"""Doc."""\nfrom __future__ import annotations\nURL = '
     '"https://s3.amazonaws.com/bk1"\n', "s3-endpoint", True,
     '"""Doc."""\nfrom __future__ import annotations\nimport os\nURL = '
     'f"{os.environ[\'S3_ENDPOINT_URL\']}/bk1"\n'),
    ("app.py", 'URL = f"https://bk1.s3.amazonaws.com/{key}"\n', "s3-endpoint", False, None),
    ("client.ts", "const u = 'https://bk1.s3.amazonaws.com/k';\n", "s3-endpoint", True,
     "const u = `${process.env.S3_ENDPOINT_URL}/bk1/k`;\n"),
    ("get.sh", "curl https://bk1.s3.amazonaws.com/k\n", "s3-endpoint", True,
     "curl ${S3_ENDPOINT_URL}/bk1/k\n"),
    ("get.sh", "echo 'https://bk1.s3.amazonaws.com/k'\n", "s3-endpoint", False, None),
    (".env.production", "DATABASE_URL=postgres://app:pw@db1.abc.eu-west-1.rds.amazonaws.com:5432"
     "/app?sslmode=require\n", "rds-endpoint", True, "DATABASE_URL=${DATABASE_URL}\n"),
    ("db.py", 'import os\nHOST = "db1.abc.eu-west-1.rds.amazonaws.com"\n', "rds-endpoint", True,
     'import os\nHOST = os.environ["POSTGRES_HOST"]\n'),
    ("app.properties", "url=jdbc:postgresql://db1.abc.eu-west-1.rds.amazonaws.com:5432/app\n",
     "rds-endpoint", False, None),
    ("worker.env", "CACHE=c1.abc.0001.use1.cache.amazonaws.com:6379\n", "elasticache-endpoint",
     True, "CACHE=${REDIS_HOST}:6379\n"),
    ("cfg.toml", 'redis = "rediss://c1.abc.ng.0001.use1.cache.amazonaws.com:6379/0"\n',
     "elasticache-endpoint", True, 'redis = "${REDIS_URL}"\n'),
    ("iam.json", '{"Resource": "arn:aws:s3:::bucket/*"}\n', "arn", False, None),
    ("main.go", 'const k = "AKIAIOSFODNN7EXAMPLE"\n', "access-key-id", False, None),
    ("creds.ini", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
     "secret-access-key", False, None),
    (".env", "AWS_PROFILE=prod\n", "aws-env-var", False, None),
    ("docker-compose.yml", "environment:\n  - AWS_REGION=eu-west-1\n", "aws-env-var", False, None),
    ("requirements-dev.txt", "boto3>=1.34\n", "sdk-dependency", False, None),
    ("requirements.txt", "flask\nawscli==1.33\n", "tool-dependency", True, "flask\n"),
    ("pyproject.toml", 'dependencies = [\n  "aws-sam-cli",\n  "httpx",\n]\n', "tool-dependency",
     True, 'dependencies = [\n  "httpx",\n]\n'),
    ("Pipfile", '[packages]\ns3fs = "*"\n', "sdk-dependency", False, None),
    ("package.json", '{\n  "devDependencies": {\n    "jest": "1",\n    "serverless": "3"\n  }\n}\n',
     "tool-dependency", True, '{\n  "devDependencies": {\n    "jest": "1"\n  }\n}\n'),
    ("package.json", '{\n  "dependencies": {\n    "@aws-sdk/client-sqs": "3"\n  }\n}\n',
     "sdk-dependency", False, None),
    ("go.mod", "require github.com/aws/aws-lambda-go v1.47.0\n", "sdk-dependency", False, None),
    ("Gemfile", "gem 'aws-sdk-sqs'\n", "sdk-dependency", False, None),
    ("pom.xml", "<groupId>software.amazon.awssdk</groupId>\n", "sdk-dependency", False, None),
    ("setup.cfg", "[options]\ninstall_requires =\n    botocore\n", "sdk-dependency", False, None),
    ("infra/s3.tf", 'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n', "terraform-aws",
     True, None),
    ("infra/all.tf", 'provider "aws" {}\nresource "google_storage_bucket" "b" {}\n',
     "terraform-aws", False, None),
    ("Pulumi.yaml", "name: x\nruntime: nodejs\nplugins:\n  - name: aws\n", "pulumi-aws", False,
     None),
    ("cdk.json", '{"app": "python3 app.py"}\n', "cdk-app", False, None),
    ("stack.json", '{"AWSTemplateFormatVersion": "2010-09-09"}\n', "cloudformation-template",
     True, None),
    ("samconfig.toml", "version = 0.1\n", "cloudformation-template", True, None),
    ("serverless.yml", "service: x\nprovider: aws\n", "serverless-aws", True, None),
    ("deploy/taskdef.json", '[{"family": "x", "containerDefinitions": []}]\n',
     "ecs-task-definition", True, None),
    (".github/workflows/ci.yml", "steps:\n  - uses: aws-actions/amazon-ecr-login@v2\n",
     "aws-actions-step", False, None),
    ("scripts/sync.sh", "aws --region eu-west-1 s3 sync dist/ s3://site/\n", "aws-cli-call",
     False, None),
    ("scripts/login.sh", "aws ecr get-login-password --region eu-west-1 | docker login "
     "--username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com\n",
     "ecr-login", True,
     'echo "$GHCR_TOKEN" | docker login ghcr.io -u "$GHCR_USER" --password-stdin\n'),
    ("api/store.py", "import boto3\n", "sdk-import", False, None),
    ("infra/backend.tf", 'terraform {\n  backend "s3" {}\n}\n', "terraform-state", False, None),
]


@pytest.mark.parametrize("path,text,kind,fixable,after", CASES,
                         ids=[f"{c[2]}:{c[0]}" for c in CASES])
def test_each_kind_is_found_with_its_fix(path: str, text: str, kind: str, fixable: bool,
                                         after: Optional[str]) -> None:
    finding = only(scan(text, path), kind)
    assert finding.fixable is fixable
    assert finding.service == core.KINDS[kind][0]
    assert finding.suggestion
    if fixable:
        assert fixed(text, path) == after
        rescanned = scan(after, path) if after is not None else []
        assert not [f for f in rescanned if f.fixable]
    else:
        assert finding.action == "manual"


def test_every_kind_has_a_case_and_a_fixture() -> None:
    assert {c[2] for c in CASES} == set(core.KINDS)
    findings, _ = core.scan_tree(str(FIXTURES / "app"), OWNER)
    assert {f.kind for f in findings} == set(core.KINDS)


def test_positions_are_one_based_line_and_column() -> None:
    finding = only(scan("a\nb = 's3://bkt/x'\n", "x.py"), "s3-uri")
    assert (finding.line, finding.column) == (2, 6)


def test_secrets_are_masked_everywhere() -> None:
    text = ("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
            "DB=postgres://app:hunter2@db.x.us-east-1.rds.amazonaws.com/app\n")
    findings = scan(text, ".env")
    dumped = json.dumps([f.to_dict() for f in findings])
    assert "IOSFODNN7EXAM" not in dumped and "wJalr" not in dumped and "hunter2" not in dumped
    assert only(findings, "access-key-id").evidence == "AKIA****PLE"
    assert only(findings, "secret-access-key").evidence == "AWS_SECRET_ACCESS_KEY=****"
    redacted = core.redact(text)
    assert "IOSFODNN7EXAM" not in redacted and "wJalr" not in redacted and "hunter2" not in redacted


@pytest.mark.parametrize("value,expected", [("AKIAIOSFODNN7EXAMPLE", "AKIA****PLE"),
                                            ("short", "****")])
def test_mask_secret(value: str, expected: str) -> None:
    assert core.mask_secret(value) == expected


def test_aws_variables_only_count_in_env_compose_and_workflow_files() -> None:
    assert scan("AWS_REGION = os.environ['AWS_REGION']\n", "settings.py") == []
    assert only(scan("export AWS_REGION=x\n", "prod.env"), "aws-env-var").evidence == "AWS_REGION"


@pytest.mark.parametrize("text", [
    "boto is a river dolphin; awesome laws\n", "ZONE=Asia/Tokyo\n",
    "url: https://example.com/s3/bucket\n", "s3-like-name\n", "arn:azure:x\n",
    "image: ghcr.io/acme/api:1\n", "host: my.rds.example.com\n",
])
def test_near_misses_are_not_findings(text: str) -> None:
    assert scan(text, "config.yml") == []


# ---------------------------------------------------------------------------------------------
# The walk
# ---------------------------------------------------------------------------------------------
def test_vendored_dirs_binary_and_large_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "node_modules" / "x" / "a.js").write_text("s3://vendored/x\n")
    (tmp_path / ".hearth").mkdir()
    (tmp_path / ".hearth" / "r.json").write_text("s3://report/x\n")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01 s3://binary/x AKIAIOSFODNN7EXAMPLE")
    (tmp_path / "big.txt").write_text("s3://big/x\n" + "x" * 5000)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ok.py").write_text("U = 's3://real/x'\n")
    findings, stats = core.scan_tree(str(tmp_path), core.Options(max_file_size=4096))
    assert [(f.path, f.kind) for f in findings] == [(os.path.join("src", "ok.py"), "s3-uri")]
    assert stats.skipped_binary == 1 and stats.skipped_large == 1 and stats.skipped_dirs == 1


def test_extra_skip_dirs(tmp_path: Path) -> None:
    (tmp_path / "third_party").mkdir()
    (tmp_path / "third_party" / "a.py").write_text("U = 's3://x/y'\n")
    opts = core.Options(skip_dirs=core.SKIP_DIRS | {"third_party"})
    assert core.scan_tree(str(tmp_path), opts)[0] == []
    assert len(core.scan_tree(str(tmp_path))[0]) == 1


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.env").write_text("AWS_PROFILE=x\ns3://outside/x\n")
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "a.py").write_text("U = 's3://inside/x'\n")
    (repo / "linked-dir").symlink_to(outside, target_is_directory=True)
    (repo / "linked-file.env").symlink_to(outside / "secret.env")
    (repo / "inner-link").symlink_to(repo / "src", target_is_directory=True)
    (repo / "loop").symlink_to(repo, target_is_directory=True)
    findings, stats = core.scan_tree(str(repo))
    assert [f.path for f in findings] == [os.path.join("src", "a.py")]
    assert stats.skipped_symlinks == 4


def test_apply_never_writes_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yml"
    outside.write_text("url: https://bkt.s3.amazonaws.com/k\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "link.yml").symlink_to(outside)
    findings, _ = core.scan_tree(str(repo))
    assert core.plan_fixes(str(repo), findings) == []
    assert outside.read_text() == "url: https://bkt.s3.amazonaws.com/k\n"


def test_scan_tree_rejects_a_missing_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        core.scan_tree(str(tmp_path / "nope"))


def test_prefilter_is_case_insensitive() -> None:
    assert core.might_contain_aws(b"FROM X.DKR.ECR.AMAZONAWS.COM")
    assert not core.might_contain_aws(b"plain text with nothing to see")


# ---------------------------------------------------------------------------------------------
# Apply
# ---------------------------------------------------------------------------------------------
def test_apply_on_the_fixture_then_rescan_is_clean(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "app", repo, symlinks=True)
    (repo / "scripts" / "deploy.sh").chmod(0o755)
    findings, _ = core.scan_tree(str(repo), OWNER)
    plans = core.plan_fixes(str(repo), findings, OWNER)
    backup = tmp_path / "backup"
    manifest = core.backup_and_apply(str(repo), plans, str(backup))
    assert set(manifest["deleted"]) == {"serverless.yml", "template.yaml",
                                        os.path.join("ecs", "taskdef.json"),
                                        os.path.join("infra", "main.tf")}
    assert "Dockerfile" in manifest["changed"]
    for rel in manifest["changed"] + manifest["deleted"]:
        assert (backup / "files" / rel).read_bytes() == (FIXTURES / "app" / rel).read_bytes()
    assert json.loads((backup / "MANIFEST.json").read_text()) == manifest
    assert (repo / "scripts" / "deploy.sh").stat().st_mode & 0o777 == 0o755
    after, _ = core.scan_tree(str(repo), OWNER)
    assert [f.to_dict() for f in after if f.fixable] == []
    assert len(after) < len(findings)
    json.loads((repo / "package.json").read_text())
    compile((repo / "app" / "storage.py").read_text(), "storage.py", "exec")
    assert core.plan_fixes(str(repo), after) == []


def test_non_utf8_bytes_survive_a_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_bytes(b"name: caf\xe9\nimage: 123456789012.dkr.ecr.us-east-1.amazonaws.com/a:1\n")
    findings, _ = core.scan_tree(str(tmp_path), OWNER)
    core.backup_and_apply(str(tmp_path), core.plan_fixes(str(tmp_path), findings, OWNER),
                          str(tmp_path / ".hearth" / "b"))
    assert path.read_bytes() == b"name: caf\xe9\nimage: ghcr.io/acme/a:1\n"


def test_python_without_a_safe_import_place_is_left_alone() -> None:
    text = 'def broken(:\nURL = "https://bkt.s3.amazonaws.com/k"\n'
    finding = only(scan(text, "x.py"), "s3-endpoint")
    assert not finding.fixable


def test_summarize_counts() -> None:
    findings = [f.to_dict() for f in scan("FROM public.ecr.aws/lambda/python:3\n"
                                          "FROM 123456789012.dkr.ecr.us-east-1.amazonaws.com/a\n",
                                          "Dockerfile")]
    summary = core.summarize(findings)
    assert summary["total"] == 2 and summary["fixable"] == 1 and summary["manual"] == 1
    assert summary["by_service"] == {"ecr": 2}


def test_arn_stops_at_an_assignment_or_placeholder() -> None:
    """An ARN glued to the next value by '=' or '${' is one finding, not a run-on match."""
    text = "arn:aws:s3:::0000=https://0000.s3.us-east-1.amazonaws.com/a0=arn:aws:s3:::0000="
    arns = [f for f in core.scan_text(text, "config.yml") if f.kind == "arn"]
    assert [f.evidence for f in arns] == ["arn:aws:s3:::0000", "arn:aws:s3:::0000"]
