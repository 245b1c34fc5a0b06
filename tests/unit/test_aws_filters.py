"""Filters of plugins/filter/aws_purge.py: scan text, summaries, Markdown, Docker configs."""
from __future__ import annotations

import base64
import json
from typing import Any, Dict, List

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hearth.platform.plugins.filter import aws_purge as filters

ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def findings() -> List[Dict[str, Any]]:
    return filters.aws_scan_text(f"FROM {ECR}/api:1\nRUN aws s3 cp a s3://bkt/y | tee log\n",
                                 "Dockerfile", ghcr_owner="acme")


def test_aws_scan_text_returns_plain_dicts() -> None:
    result = findings()
    assert [f["kind"] for f in result] == ["ecr-image", "aws-cli-call", "s3-uri"]
    assert result[0]["suggestion"] == "ghcr.io/acme/api:1" and result[0]["fixable"]
    json.dumps(result)


def test_aws_scan_text_rejects_non_strings() -> None:
    with pytest.raises(AnsibleFilterError, match="expects a string"):
        filters.aws_scan_text(42)  # type: ignore[arg-type]


def test_summary_accepts_the_module_result_or_the_list() -> None:
    summary = filters.aws_findings_summary({"findings": findings()})
    assert summary == filters.aws_findings_summary(findings())
    assert summary["total"] == 3 and summary["fixable"] == 1
    assert summary["by_kind"] == {"aws-cli-call": 1, "ecr-image": 1, "s3-uri": 1}


@pytest.mark.parametrize("bad,message", [
    ({"summary": {}}, "expected the aws_scan result"),
    ("text", "expected a list of findings"),
    ([{"path": "a"}], "each finding must be a dict"),
])
def test_bad_input_is_named(bad: Any, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        filters.aws_findings_summary(bad)


def test_markdown_report_has_counts_tables_and_escapes_pipes() -> None:
    md = filters.aws_findings_markdown(findings(), title="AWS in app",
                                       applied={"changed_files": ["Dockerfile"],
                                                "deleted_files": ["template.yaml"],
                                                "backup_dir": "/r/.hearth/b"})
    assert md.startswith("# AWS in app\n")
    assert "3 finding(s) in 1 file(s): 1 fixable, 2 for a person." in md
    assert "| ecr-image | ECR image reference | 1 |" in md
    assert "- changed `Dockerfile`" in md and "- deleted `template.yaml`" in md
    assert "## Fixable (mechanical rewrite)" in md and "## Needs a person" in md
    assert "s3://bkt/y \\| tee log" in md  # a pipe in evidence does not break the table
    for line in md.splitlines():
        if line.startswith("| Dockerfile"):
            assert line.count(" | ") == 4


def test_markdown_of_nothing() -> None:
    md = filters.aws_findings_markdown([])
    assert "0 finding(s) in 0 file(s)" in md and "##" not in md


def test_docker_config_ecr_entries_and_purge() -> None:
    config = {"credsStore": "ecr-login",
              "credHelpers": {ECR: "ecr-login", "gcr.io": "gcloud", "public.ecr.aws": "x"},
              "auths": {ECR: {"auth": "x"}, "ghcr.io": {"auth": "y"}},
              "proxies": {"default": {}}}
    assert filters.aws_docker_config_ecr(config) == [
        "credsStore", f"credHelpers.{ECR}", "credHelpers.public.ecr.aws", f"auths.{ECR}"]
    assert filters.aws_docker_config_purge(config) == {
        "credHelpers": {"gcr.io": "gcloud"}, "auths": {"ghcr.io": {"auth": "y"}},
        "proxies": {"default": {}}}
    assert config["credsStore"] == "ecr-login"  # the input is not modified


def test_docker_config_purge_drops_empty_sections_and_keeps_other_stores() -> None:
    assert filters.aws_docker_config_purge({"credHelpers": {ECR: "ecr-login"}}) == {}
    keep = {"credsStore": "desktop", "auths": {}}
    assert filters.aws_docker_config_ecr(keep) == []


def test_docker_config_rejects_non_dicts() -> None:
    with pytest.raises(AnsibleFilterError, match="Docker config.json as a dict"):
        filters.aws_docker_config_ecr(["x"])


def _slurp(path: str, content: str) -> Dict[str, Any]:
    return {"item": {"item": path, "stat": {"path": path, "mode": "0600", "pw_name": "root",
                                            "gr_name": "root"}},
            "content": base64.b64encode(content.encode()).decode()}


def test_docker_configs_found_from_a_looped_slurp() -> None:
    registered = {"results": [
        _slurp("/root/.docker/config.json", json.dumps({"credsStore": "ecr-login"})),
        _slurp("/home/a/.docker/config.json", json.dumps({"auths": {"ghcr.io": {}}})),
        {"skipped": True, "item": {}},
    ]}
    found = filters.aws_docker_configs_found(registered)
    assert found == [{"path": "/root/.docker/config.json", "entries": ["credsStore"],
                      "purged": {}, "mode": "0600", "owner": "root", "group": "root"}]


def test_docker_configs_found_names_a_broken_file() -> None:
    with pytest.raises(AnsibleFilterError, match="/x/config.json is not valid JSON"):
        filters.aws_docker_configs_found([_slurp("/x/config.json", "{nope")])


def test_filter_module_lists_every_filter() -> None:
    assert set(filters.FilterModule().filters()) == {
        "aws_scan_text", "aws_findings_summary", "aws_findings_markdown",
        "aws_docker_config_ecr", "aws_docker_config_purge", "aws_docker_configs_found"}
