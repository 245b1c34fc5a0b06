"""Properties of the AWS scanner, checked with generated input.

* Text built without AWS content yields no findings, whatever the file type.
* After the fixes are applied, a rescan finds nothing fixable, and fixing again changes nothing.
* Each remnant class is found in every generated spelling: SDK imports, environment templates,
  Serverless files by content, Terraform modules and state, and the ECR login, which a fix
  replaces as a whole or leaves byte for byte.
"""
from __future__ import annotations

import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ansible_collections.hearth.platform.plugins.module_utils import aws_scan as core

FILE_NAMES = ["config.yml", ".env", "app.py", "index.ts", "run.sh", "README.md", "Dockerfile",
              "requirements.txt", "docker-compose.yml", "settings.ini", "main.go",
              ".github/workflows/ci.yml", "Pipfile", "pyproject.toml", "notes.txt",
              ".env.example", "env.template", "serverless-api.yml", "infra/main.tf", "Makefile",
              "Store.java"]
# Words that look close to AWS content but are not: the scanner must stay quiet on them.
NEAR_MISSES = ["awesome", "laws", "draws", "s3cret", "botox", "Asia/Tokyo", "arn", "amazonia",
               "serverlessly", "ecr", "rds", "cache", "s3-like", "dkr", "ghcr.io/acme/api:1",
               "https://example.com/s3/x", "postgres://db.internal:5432/app", "AKIA",
               "aws.example.org", "my.rds.example.com", "redis://cache.local:6379"]
# Without a, s and b no AWS word can form (aws, s3, boto, arn, AKIA, ...); the one AWS package
# name left that avoids those letters, cfn-lint, is ruled out with assume().
SAFE_CHARS = st.characters(codec="ascii", exclude_characters="aAsSbB\x00\r")
filler = st.text(SAFE_CHARS, max_size=40)

BUCKET = st.from_regex(r"[a-z0-9][a-z0-9-]{2,20}[a-z0-9]", fullmatch=True)
NAME = st.from_regex(r"[a-z][a-z0-9]{1,10}", fullmatch=True)
REGION = st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"])
ACCOUNT = st.from_regex(r"[0-9]{12}", fullmatch=True)
TAG = st.from_regex(r"[a-z0-9][a-z0-9.]{0,8}", fullmatch=True)


@st.composite
def aws_snippet(draw: st.DrawFn) -> str:
    """One AWS reference in one of the forms the scanner knows."""
    bucket, name, region = draw(BUCKET), draw(NAME), draw(REGION)
    forms = [
        f"{draw(ACCOUNT)}.dkr.ecr.{region}.amazonaws.com/{name}:{draw(TAG)}",
        f"{draw(ACCOUNT)}.dkr.ecr.{region}.amazonaws.com",
        f"public.ecr.aws/{name}/{name}:{draw(TAG)}",
        f"https://{bucket}.s3.{region}.amazonaws.com/{name}",
        f"https://{bucket}.s3.amazonaws.com",
        f"http://s3-{region}.amazonaws.com/{bucket}/{name}",
        f"s3://{bucket}/{name}",
        f"postgresql://u:p@{name}.c1x.{region}.rds.amazonaws.com:5432/{name}",
        f"{name}.c1x.{region}.rds.amazonaws.com",
        f"redis://{name}.abc.0001.use1.cache.amazonaws.com:6379",
        f"arn:aws:s3:::{bucket}",
        "AKIAIOSFODNN7EXAMPLE",
        "awscli==1.33",
        "AWS_REGION=eu-west-1",
        "\nimport boto3\n",
        f"\naws ecr get-login-password | docker login -u AWS --password-stdin "
        f"{draw(ACCOUNT)}.dkr.ecr.{region}.amazonaws.com\n",
        '\n  backend "s3" {}\n',
        f'\n  source = "terraform-aws-modules/{name}/aws"\n',
    ]
    return draw(st.sampled_from(forms))


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(FILE_NAMES),
       parts=st.lists(st.one_of(filler, st.sampled_from(NEAR_MISSES)), max_size=30),
       seps=st.lists(st.sampled_from([" ", "\n", "=", ": ", '"', "'", "`", "/", ","]),
                     min_size=1, max_size=30))
def test_text_without_aws_content_has_no_findings(name: str, parts: list, seps: list) -> None:
    text = "".join(p + seps[i % len(seps)] for i, p in enumerate(parts))
    assume(not re.search(r"cfn[-_.]+lint", text, re.IGNORECASE))
    assert core.scan_text(text, name) == []


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(FILE_NAMES),
       chunks=st.lists(st.one_of(filler, aws_snippet()), min_size=1, max_size=12),
       seps=st.lists(st.sampled_from([" ", "\n", "=", ": ", '"', "'", "`", "\n- ", "${"]),
                     min_size=1, max_size=12))
def test_apply_then_rescan_finds_nothing_fixable(name: str, chunks: list, seps: list) -> None:
    text = "".join(c + seps[i % len(seps)] for i, c in enumerate(chunks))
    opts = core.Options(ghcr_owner="acme")
    first = core.scan_text(text, name, opts)
    after = core.plan_file(text, first, name, opts)
    if after is None:  # the file is deleted: nothing left to rescan
        return
    second = core.scan_text(after, name, opts)
    assert [f.to_dict() for f in second if f.fixable] == []
    assert core.plan_file(after, second, name, opts) == after
    # Rewrites add no findings: what is left is at most what was manual before.
    assert len(second) <= sum(not f.fixable for f in first)


# ---------------------------------------------------------------------------------------------
# Remnant classes, generated
# ---------------------------------------------------------------------------------------------
PY_AWS_MODULES = ["boto3", "botocore", "aioboto3", "aiobotocore", "s3fs", "awswrangler",
                  "pulumi_aws", "aws_cdk", "aws_lambda_powertools", "mypy_boto3_s3"]
JS_AWS_MODULES = ["aws-sdk", "aws-sdk/clients/s3", "@aws-sdk/client-s3", "@aws-sdk/lib-storage",
                  "@pulumi/aws", "@pulumi/awsx", "aws-cdk-lib", "aws-cdk-lib/aws-s3",
                  "@aws-cdk/core", "aws-lambda", "aws-amplify"]
INDENT = st.sampled_from(["", "    ", "\t"])
ALIAS = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@settings(max_examples=120, deadline=None)
@given(module=st.sampled_from(PY_AWS_MODULES), sub=st.sampled_from(["", ".session", ".x.y"]),
       form=st.integers(0, 3), alias=ALIAS, indent=INDENT, other=st.sampled_from(["os", "json"]))
def test_python_aws_imports_are_found(module: str, sub: str, form: int, alias: str,
                                      indent: str, other: str) -> None:
    line = [f"import {module}{sub}", f"import {module} as {alias}",
            f"import {other}, {module}", f"from {module}{sub} import {alias}"][form]
    text = f"{indent}{line}\n"
    assert core.might_contain_aws(text.encode(), "m.py")
    found = [f for f in core.scan_text(text, "pkg/m.py") if f.kind == "sdk-import"]
    assert len(found) == 1 and found[0].column == len(indent) + line.index(module) + 1


@settings(max_examples=120, deadline=None)
@given(module=st.sampled_from(JS_AWS_MODULES), quote=st.sampled_from(['"', "'"]),
       form=st.integers(0, 3), name=ALIAS, suffix=st.sampled_from([".js", ".ts", ".mjs", ".tsx"]))
def test_js_aws_imports_are_found(module: str, quote: str, form: int, name: str,
                                  suffix: str) -> None:
    spec = f"{quote}{module}{quote}"
    line = [f"import * as {name} from {spec};", f"const {name} = require({spec});",
            f"const {name} = await import({spec});", f"import {spec};"][form]
    found = [f for f in core.scan_text(line + "\n", "src/x" + suffix) if f.kind == "sdk-import"]
    assert len(found) == 1
    # The same name with a prefix is another package, not an AWS SDK.
    other = line.replace(spec, f"{quote}my-{module.lstrip('@')}{quote}")
    assert not [f for f in core.scan_text(other + "\n", "src/x" + suffix)
                if f.kind == "sdk-import"]


QUALIFIERS = st.sampled_from(["example", "sample", "template", "dist", "local", "production",
                              "tmpl"])


@settings(max_examples=100, deadline=None)
@given(stem=st.sampled_from(["", "worker", "api"]), quals=st.lists(QUALIFIERS, min_size=1,
                                                                  max_size=2),
       dot=st.booleans(), sep=st.sampled_from([".", "-", "_"]), before=st.booleans())
def test_environment_templates_of_any_spelling_are_env_files(stem: str, quals: list, dot: bool,
                                                             sep: str, before: bool) -> None:
    if before:  # example.env, worker.sample.env
        name = ".".join([p for p in [stem, *quals] if p] + ["env"])
    else:  # .env.example, env-sample, worker.env.template
        name = ("." if dot and not stem else "") + sep.join(
            [p for p in [stem, "env", *quals] if p])
    assert core.is_env_file(name), name
    found = core.scan_text("AWS_PROFILE=prod\n", f"cfg/{name}")
    assert [f.kind for f in found] == ["aws-env-var"], name


@settings(max_examples=100, deadline=None)
@given(service=ALIAS, keys=st.permutations(["service", "frameworkVersion", "provider",
                                            "functions"]),
       indent=st.sampled_from(["  ", "    "]), inline=st.booleans(),
       quote=st.sampled_from(["", "'", '"']), name=ALIAS)
def test_serverless_on_aws_is_found_by_content(service: str, keys: list, indent: str,
                                               inline: bool, quote: str, name: str) -> None:
    blocks = {"service": f"service: {service}\n", "frameworkVersion": "frameworkVersion: '3'\n",
              "functions": f"functions:\n{indent}api:\n{indent}{indent}handler: h.main\n",
              "provider": (f"provider: {quote}aws{quote}\n" if inline else
                           f"provider:\n{indent}stage: prod\n{indent}name: {quote}aws{quote}\n")}
    text = "".join(blocks[k] for k in keys)
    for path, deleted in ((f"serverless-{name}.yml", True), (f"deploy/{name}.yml", False)):
        findings = core.scan_text(text, path)
        assert [f.kind for f in findings] == ["serverless-aws"]
        after = core.plan_file(text, findings, path)
        # Named serverless*: deleted; found by content alone: left for a person to delete.
        assert after is None if deleted else after == text
        assert core.scan_text(text.replace("aws", "google"), path) == []


SOURCES = st.one_of(
    st.builds(lambda n: f"terraform-aws-modules/{n}/aws", ALIAS),
    st.builds(lambda o, n: f"app.terraform.io/{o}/{n}/aws", ALIAS, ALIAS),
    st.builds(lambda o, n: f"git::https://github.com/{o}/terraform-aws-{n}.git", ALIAS, ALIAS))


@settings(max_examples=100, deadline=None)
@given(sources=st.lists(SOURCES, min_size=1, max_size=3), state=st.booleans(),
       names=st.lists(ALIAS, min_size=3, max_size=3, unique=True))
def test_terraform_in_aws_by_module_or_state(sources: list, state: bool, names: list) -> None:
    text = "".join(f'module "{names[i]}" {{\n  source = "{src}"\n}}\n'
                   for i, src in enumerate(sources))
    if state:
        text = 'terraform {\n  backend "s3" {\n    dynamodb_table = "locks"\n  }\n}\n' + text
    findings = core.scan_text(text, "infra/main.tf")
    kinds = [f.kind for f in findings]
    assert kinds.count("terraform-aws") == 1
    assert kinds.count("terraform-state") == (2 if state else 0)
    after = core.plan_file(text, findings, "infra/main.tf")
    # State settings are never deleted with the file; AWS-only modules are.
    assert (after == text) if state else (after is None)


@settings(max_examples=150, deadline=None)
@given(account=ACCOUNT, region=REGION, opts=st.sampled_from(["", " --region eu-west-1",
                                                             " --profile prod"]),
       user=st.sampled_from(["--username AWS", "-u AWS"]), indent=INDENT,
       tail=st.sampled_from(["", " && docker push {reg}/api:1", "; echo done", " # login",
                             " \\\n  && true"]),
       name=st.sampled_from(["deploy.sh", "Makefile", ".github/workflows/ci.yml"]))
def test_the_ecr_login_is_replaced_whole_or_not_at_all(account: str, region: str, opts: str,
                                                       user: str, indent: str, tail: str,
                                                       name: str) -> None:
    registry = f"{account}.dkr.ecr.{region}.amazonaws.com"
    login = (f"aws ecr get-login-password{opts} | docker login {user} --password-stdin "
             f"{registry}")
    prefix = "      - run: " if name.endswith(".yml") else ("\t" if name == "Makefile" else indent)
    text = f"{prefix}{login}{tail.format(reg=registry)}\nnext line\n"
    opts_ = core.Options(ghcr_owner="acme")
    after = core.plan_file(text, core.scan_text(text, name, opts_), name, opts_)
    assert after is not None
    first = after.split("\n")[0]
    if tail:
        assert after == text
    else:
        assert first.startswith(prefix) and "docker login ghcr.io" in first
        assert "aws" not in first.replace("${{", "")  # nothing of the AWS command is left
    assert after.endswith("next line\n")
