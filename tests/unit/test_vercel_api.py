"""Pure parts of the vercel_api module utilities: fingerprints, planning, diff, retries."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.hearth.platform.plugins.module_utils import vercel_api as api

FAST = 10  # PBKDF2 iterations for property tests; the format does not depend on the count


@settings(max_examples=60, deadline=None)
@given(value=st.text(min_size=0, max_size=80), other=st.text(min_size=0, max_size=80))
def test_fingerprint_matches_only_its_value(value: str, other: str) -> None:
    marker = api.fingerprint(value, iterations=FAST)
    assert marker.startswith(api.MARKER_PREFIX)
    assert api.fingerprint_matches(marker, value, FAST)
    assert api.fingerprint_matches(marker, other, FAST) == (value == other)
    assert value not in marker[len(api.MARKER_PREFIX):] or len(value) < 4


def test_fingerprints_are_salted() -> None:
    assert api.fingerprint("same", iterations=FAST) != api.fingerprint("same", iterations=FAST)


@settings(max_examples=60, deadline=None)
@given(comment=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
       .filter(lambda c: api.MARKER_PREFIX not in c and c == c.strip()),
       value=st.text(max_size=20))
def test_compose_then_split_returns_the_people_written_part(comment: str, value: str) -> None:
    composed = api.compose_comment(comment, value, FAST)
    user, marker = api.split_comment(composed)
    assert user == comment
    assert marker is not None and api.fingerprint_matches(marker, value, FAST)


def test_garbled_marker_does_not_match() -> None:
    assert not api.fingerprint_matches("hearth:v1:%%%:zzz", "x", FAST)


@pytest.mark.parametrize("var,needle", [
    ({"key": "1BAD", "value": "x"}, "must be letters"),
    ({"key": "A-B", "value": "x"}, "must be letters"),
    ({"key": "A", "value": "x", "targets": ["staging"]}, "subset"),
    ({"key": "A", "value": "x", "targets": []}, "subset"),
    ({"key": "A", "value": "x", "git_branch": "b"}, "preview target only"),
    ({"key": "A", "value": "x", "type": "sensitive"}, "development"),
    ({"key": "A"}, "value is required"),
])
def test_validate_variable_names_the_problem(var: Dict[str, Any], needle: str) -> None:
    with pytest.raises(api.PlanError, match=needle):
        api.validate_variable(var)


def test_auto_type_splits_sensitive_from_development() -> None:
    entries = api.desired_entries({"key": "K", "value": "v", "targets":
                                   ["development", "production", "preview"]})
    assert [(e.targets, e.type) for e in entries] == [
        (("production", "preview"), "sensitive"), (("development",), "encrypted")]


def test_auto_type_development_only_is_encrypted() -> None:
    entries = api.desired_entries({"key": "K", "value": "v", "targets": ["development"]})
    assert [(e.targets, e.type) for e in entries] == [(("development",), "encrypted")]


def existing(key: str, targets: List[str], type_: str = "encrypted", **extra: Any) -> Dict[str, Any]:
    return dict({"id": "env_" + key + "".join(t[0] for t in targets), "key": key,
                 "target": targets, "type": type_}, **extra)


def test_plan_leaves_other_keys_and_disjoint_entries_alone() -> None:
    current = [existing("OTHER", ["production"]), existing("K", ["development"], value="dev",
                                                           decrypted=True)]
    actions = api.plan_variable({"key": "K", "value": "v", "targets": ["production"]},
                                current, FAST)
    assert [(a.kind, a.targets) for a in actions] == [("create", ("production",))]


def test_plan_type_change_on_same_targets_replaces() -> None:
    current = [existing("K", ["production"], "plain", value="v")]
    actions = api.plan_variable({"key": "K", "value": "v", "targets": ["production"]},
                                current, FAST)
    assert [(a.kind, a.type) for a in actions] == [("delete", "plain"), ("create", "sensitive")]


def test_plan_readable_equal_value_is_unchanged() -> None:
    current = [existing("K", ["production"], "encrypted", value="v", decrypted=True)]
    actions = api.plan_variable({"key": "K", "value": "v", "targets": ["production"],
                                 "type": "encrypted"}, current, FAST)
    assert [a.kind for a in actions] == ["unchanged"]


def test_plan_undecrypted_value_without_marker_is_an_update() -> None:
    current = [existing("K", ["production"], "encrypted", value="cipher", decrypted=False)]
    actions = api.plan_variable({"key": "K", "value": "cipher", "targets": ["production"],
                                 "type": "encrypted"}, current, FAST)
    assert [a.kind for a in actions] == ["update"]


def test_plan_conflict_names_the_extra_targets() -> None:
    current = [existing("K", ["production", "development"])]
    with pytest.raises(api.PlanError, match="also covers development"):
        api.plan_variable({"key": "K", "value": "v", "targets": ["production"]}, current, FAST)


def test_plan_git_branch_entries_are_separate() -> None:
    current = [existing("K", ["preview"], gitBranch="feature")]
    actions = api.plan_variable({"key": "K", "value": "v", "targets": ["preview"]}, current, FAST)
    assert [a.kind for a in actions] == ["create"]


def test_request_body_refuses_overlong_comment() -> None:
    desired = api.desired_entries({"key": "K", "value": "v", "targets": ["production"],
                                   "comment": "x" * 480})[0]
    with pytest.raises(api.PlanError, match="comment is too long"):
        api.request_body(desired, FAST)


def test_diff_text_masks_values() -> None:
    desired = api.desired_entries({"key": "K", "value": "hunter2", "targets": ["production"]})[0]
    actions = [api.Action("create", "K", desired.targets, desired.type, None, desired, None)]
    diff = api.diff_text(actions)
    assert diff["before"] == ""
    assert diff["after"] == "K targets=production type=sensitive value=******** (new value)\n"
    assert "hunter2" not in str(diff)


def test_describe_failures_without_values() -> None:
    text = api.describe_failures([{"error": {"code": "ENV_CONFLICT", "message": "exists",
                                             "envVarKey": "K", "target": ["production"]}}])
    assert text == "Vercel refused 1 variable(s): K [production]: ENV_CONFLICT exists"


@pytest.mark.parametrize("header,attempt,expected", [
    ("3", 1, 3.0), ("120", 1, 30.0), (None, 1, 1.0), (None, 3, 4.0), ("soon", 2, 2.0)])
def test_retry_delay(header: Any, attempt: int, expected: float) -> None:
    assert api.retry_delay(header, attempt) == expected


def test_client_retries_429_then_succeeds() -> None:
    replies = [api.Response(429, {"retry-after": "2"}, b""),
               api.Response(200, {}, b'{"envs": []}')]
    sleeps: List[float] = []

    def transport(method: str, url: str, headers: Dict[str, str], body: Any,
                  timeout: float) -> api.Response:
        assert headers["Authorization"] == "Bearer t" and "slug=acme" in url
        return replies.pop(0)

    client = api.VercelClient("t", team_slug="acme", transport=transport, sleep=sleeps.append)
    assert client.list_env("web") == []
    assert sleeps == [2.0]


def test_client_gives_up_after_max_attempts() -> None:
    def transport(*_: Any) -> api.Response:
        return api.Response(503, {}, b"upstream down")

    client = api.VercelClient("t", transport=transport, sleep=lambda s: None)
    with pytest.raises(api.VercelApiError, match="HTTP 503"):
        client.list_env("web")
