"""ghcr_image: any image reference to ghcr.io/<owner>/<name>, per the reference grammar."""
from __future__ import annotations

import re
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ansible_collections.hearth.platform.plugins.filter.ghcr import FilterModule, ghcr_image, parse_reference

DIGEST = "sha256:" + "0123456789abcdef" * 4
# The complete reference grammar (distribution/reference), used to check every output.
REFERENCE = re.compile(
    r"^(?P<name>(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z]"
    r"[A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$")


@pytest.mark.parametrize("source,expected", [
    ("nginx", "ghcr.io/acme/nginx:latest"),
    ("nginx:1.27-alpine", "ghcr.io/acme/nginx:1.27-alpine"),
    ("library/nginx", "ghcr.io/acme/nginx:latest"),
    ("docker.io/library/nginx:1.27", "ghcr.io/acme/nginx:1.27"),
    ("index.docker.io/bitnami/redis:7.2", "ghcr.io/acme/redis:7.2"),
    ("user/app:1.2", "ghcr.io/acme/app:1.2"),
    ("docker.io/user/team/app", "ghcr.io/acme/team/app:latest"),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/api:v42",
     "ghcr.io/acme/api:v42"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/svc/api:2024.05.01",
     "ghcr.io/acme/team/svc/api:2024.05.01"),
    ("public.ecr.aws/lambda/python:3.12", "ghcr.io/acme/python:3.12"),
    ("public.ecr.aws/a1b2c3d4/team/worker", "ghcr.io/acme/team/worker:latest"),
    ("ghcr.io/someone-else/tool:v1", "ghcr.io/acme/tool:v1"),
    ("ghcr.io/acme/api", "ghcr.io/acme/api:latest"),
    ("quay.io/prometheus/node-exporter:v1.8.0", "ghcr.io/acme/node-exporter:v1.8.0"),
    ("localhost:5000/app", "ghcr.io/acme/app:latest"),
    ("registry.internal:5000/ml/vllm-openai:v0.6", "ghcr.io/acme/ml/vllm-openai:v0.6"),
    ("[::1]:5000/app:dev", "ghcr.io/acme/app:dev"),
    ("nginx@" + DIGEST, "ghcr.io/acme/nginx@" + DIGEST),
    ("nginx:1.27@" + DIGEST, "ghcr.io/acme/nginx:1.27@" + DIGEST),
    ("my_app__svc/worker.v2", "ghcr.io/acme/worker.v2:latest"),
])
def test_mapping(source: str, expected: str) -> None:
    assert ghcr_image(source, "acme") == expected


def test_owner_is_lowercased() -> None:
    assert ghcr_image("nginx", "Acme-Corp") == "ghcr.io/acme-corp/nginx:latest"


def test_tags_keep_their_case() -> None:
    assert ghcr_image("app:Release_1", "acme") == "ghcr.io/acme/app:Release_1"


@pytest.mark.parametrize("source,reason", [
    ("", "empty"),
    ("   ", "empty"),
    ("Nginx", "must be lowercase"),
    ("user/App:1", "must be lowercase"),
    ("nginx:", "tag ''"),
    ("nginx:-1", "tag '-1'"),
    ("nginx:" + "a" * 129, "tag"),
    ("nginx@sha256:abc", "digest"),
    ("nginx@sha256:" + "A" * 64, "64 lowercase hex"),
    ("nginx@md5", "digest"),
    ("a//b", "empty path component"),
    ("docker.io/", "empty path component"),
    ("https://ghcr.io/acme/api", "URL scheme"),
    ("my app", "whitespace"),
    ("app_/x", "path component"),
    ("a---_b", "path component"),
    ("ghcr.io/api", "<account>/<repository>"),
    ("public.ecr.aws/repo", "<account>/<repository>"),
    ("-bad.example.com/app", "invalid label"),
    ("registry.example.com:port/app", "must be digits"),
    ("[::1/app", "IPv6"),
    ("a/" * 130 + "b", "longer than 255"),
])
def test_invalid_references_say_why(source: str, reason: str) -> None:
    with pytest.raises(AnsibleFilterError, match=re.escape(reason)):
        ghcr_image(source, "acme")


@pytest.mark.parametrize("owner", ["", "-acme", "acme-", "ac--me", "a" * 40, "ac_me", None, 3])
def test_invalid_owner(owner: Any) -> None:
    with pytest.raises(AnsibleFilterError, match="owner must be a GitHub"):
        ghcr_image("nginx", owner)


def test_non_string_reference() -> None:
    with pytest.raises(AnsibleFilterError, match="expected a string"):
        ghcr_image(["nginx"], "acme")


component = st.from_regex(r"\A[a-z0-9]{1,6}(?:(?:[._]|__|-{1,2})[a-z0-9]{1,6}){0,2}\Z")
tag = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")
registry = st.sampled_from(["", "docker.io/", "ghcr.io/", "quay.io/", "public.ecr.aws/",
                            "123456789012.dkr.ecr.us-east-1.amazonaws.com/",
                            "registry.example.com:5000/"])


@settings(max_examples=120, deadline=None)
@given(registry=registry, path=st.lists(component, min_size=2, max_size=4),
       tag=st.one_of(st.none(), tag),
       digest=st.one_of(st.none(), st.just(DIGEST)),
       owner=st.from_regex(r"\A[A-Za-z0-9]{1,10}(?:-[A-Za-z0-9]{1,5})?\Z"))
def test_every_valid_reference_maps_to_a_valid_ghcr_reference(
        registry: str, path: list, tag: Any, digest: Any, owner: str) -> None:
    # Without a registry, a first component with a dot names a host (Docker's rule).
    assume(registry or "." not in path[0])
    source = registry + "/".join(path) + (":" + tag if tag else "") + \
        ("@" + digest if digest else "")
    result = ghcr_image(source, owner)
    match = REFERENCE.match(result)
    assert match, result
    assert result.startswith("ghcr.io/%s/" % owner.lower())
    assert match.group("name") == match.group("name").lower()
    assert match.group("tag") == (tag if tag else (None if digest else "latest"))
    assert match.group("digest") == digest
    assert match.group("name").endswith("/" + path[-1])
    # Mapping is stable: a GHCR reference for the same owner maps to itself.
    assert ghcr_image(result, owner) == result


def test_parse_reference_normalises_docker_hub() -> None:
    parsed = parse_reference("nginx")
    assert (parsed.domain, parsed.path, parsed.tag) == ("docker.io", "library/nginx", None)


def test_filters_are_registered() -> None:
    assert set(FilterModule().filters()) == {"ghcr_image", "ghcr_workflow"}
