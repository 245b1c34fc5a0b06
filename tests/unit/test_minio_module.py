"""Tests for the pure parts of the hearth_minio module (no MinIO needed)."""
from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.hearth.platform.plugins.modules.hearth_minio import (
    check_specs,
    error_code,
    lifecycle_document,
    lifecycle_summary,
    parse_json_lines,
    policies_equal,
    secret_accepted,
)

POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                   "Resource": ["arn:aws:s3:::b/*"]}],
}


def params(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"buckets": [], "users": [], "service_accounts": []}
    base.update(overrides)
    return base


def test_json_lines_skip_non_json_noise() -> None:
    text = 'mc: warning\n{"status":"success","key":"a/"}\n\n{"status":"error"}\n{broken\n'
    assert parse_json_lines(text) == [{"status": "success", "key": "a/"}, {"status": "error"}]


def test_error_code_reads_the_nested_cause() -> None:
    record = {"status": "error", "error": {"message": "x", "cause": {"error": {"Code": "AccessDenied"}}}}
    assert error_code(record) == "AccessDenied"
    assert error_code({"status": "error", "error": {"message": "x"}}) == ""


def test_policy_comparison_ignores_order_and_scalar_lists() -> None:
    reordered = {"Version": "2012-10-17", "Statement": [{"Resource": "arn:aws:s3:::b/*", "Effect": "Allow",
                                                         "Action": ["s3:PutObject", "s3:GetObject"]}]}
    assert policies_equal(POLICY, reordered)


def test_policy_comparison_sees_a_new_action() -> None:
    wider = {**POLICY, "Statement": [{**POLICY["Statement"][0], "Action": ["s3:*"]}]}
    assert not policies_equal(POLICY, wider)
    assert not policies_equal(None, POLICY)


def test_lifecycle_round_trip_through_mc_export_form() -> None:
    rules = [{"id": "expire-tmp", "prefix": "tmp/", "expire_days": 7}]
    exported = {"Rules": [{"Expiration": {"Days": 7}, "ID": "expire-tmp", "Filter": {"Prefix": "tmp/"},
                           "Status": "Enabled"}]}
    assert lifecycle_summary(lifecycle_document(rules)) == lifecycle_summary(exported)


def test_lifecycle_change_is_detected() -> None:
    current = lifecycle_document([{"id": "a", "prefix": "", "expire_days": 7}])
    desired = lifecycle_document([{"id": "a", "prefix": "", "expire_days": 30}])
    assert lifecycle_summary(current) != lifecycle_summary(desired)
    assert lifecycle_summary(None) == lifecycle_summary({"Rules": []}) == []


def test_noncurrent_expiry_is_rendered() -> None:
    doc = lifecycle_document([{"id": "old", "noncurrent_expire_days": 3}])
    assert doc["Rules"][0]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 3}
    assert "Expiration" not in doc["Rules"][0]


@pytest.mark.parametrize(
    ("code", "accepted"),
    [("AccessDenied", True), ("SignatureDoesNotMatch", False), ("InvalidAccessKeyId", False)],
)
def test_secret_check_accepts_access_denied_but_not_bad_signatures(code: str, accepted: bool) -> None:
    records = [{"status": "error", "error": {"cause": {"error": {"Code": code}}}}]
    assert secret_accepted(records) is accepted
    assert secret_accepted([{"status": "success"}])


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (params(buckets=[{"name": "UP", "lifecycle": None}]), r"buckets\[0\]\.name"),
        (params(buckets=[{"name": "ab", "lifecycle": None}]), r"buckets\[0\]\.name"),
        (params(buckets=[{"name": "ok-bucket", "lifecycle": [{"id": "x"}]}]), r"lifecycle\[0\]: needs expire_days"),
        (params(users=[{"access_key": "app", "secret_key": "short", "state": "present"}]), r"users\[0\]\.secret_key \(app\)"),
        (params(service_accounts=[{"access_key": "ab", "secret_key": "x" * 12, "user": "app"}]), r"access_key: expected 3-20"),
    ],
)
def test_spec_problems_name_the_entry(given: dict[str, Any], message: str) -> None:
    problems = check_specs(given)
    assert problems and any(__import__("re").search(message, p) for p in problems)
    assert all("short" not in p for p in problems)


def test_valid_specs_have_no_problems() -> None:
    assert check_specs(params(
        buckets=[{"name": "uploads", "lifecycle": [{"id": "t", "expire_days": 1}]}],
        users=[{"access_key": "app", "secret_key": "a" * 16, "state": "present"},
               {"access_key": "old", "secret_key": None, "state": "absent"}],
        service_accounts=[{"access_key": "appsvc01", "secret_key": "b" * 20, "user": "app"}],
    )) == []
