"""Properties of the AWS scanner, checked with generated input.

* Text built without AWS content yields no findings, whatever the file type.
* After the fixes are applied, a rescan finds nothing fixable, and fixing again changes nothing.
"""
from __future__ import annotations

import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ansible_collections.hearth.platform.plugins.module_utils import aws_scan as core

FILE_NAMES = ["config.yml", ".env", "app.py", "index.ts", "run.sh", "README.md", "Dockerfile",
              "requirements.txt", "docker-compose.yml", "settings.ini", "main.go",
              ".github/workflows/ci.yml", "Pipfile", "pyproject.toml", "notes.txt"]
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
