"""The vercel_env module, run in-process against the local Vercel fake over real HTTP."""
from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.hearth.platform.plugins.modules import vercel_env

from fake_vercel import FakeVercel

TOKEN = "tok-account"
TEAM_TOKEN = "tok-team"
SECRET = "s3cr3t-value-never-printed"


@pytest.fixture()
def fake() -> Iterator[FakeVercel]:
    with FakeVercel() as server:
        server.add_token(TOKEN)
        server.add_token(TEAM_TOKEN, teams=("team_acme",))
        server.add_team("team_acme", "acme")
        server.add_project("web")
        server.add_project("web", team_id="team_acme")
        yield server


def run(capsys: pytest.CaptureFixture[str], fake: FakeVercel, variables: List[Dict[str, Any]],
        check: bool = False, diff: bool = True, **extra: Any) -> Dict[str, Any]:
    """Run the module's main() and return its JSON result (with 'rc')."""
    args = {"project": "web", "token": TOKEN, "api_url": fake.url, "variables": variables,
            "_ansible_check_mode": check, "_ansible_diff": diff}
    args.update(extra)
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        vercel_env.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    result["rc"] = exit_info.value.code
    result["raw"] = out
    return result


def test_creates_sensitive_and_encrypted_entries_then_is_idempotent(capsys, fake):
    variables = [{"key": "API_KEY", "value": SECRET}]
    first = run(capsys, fake, variables)
    assert first["rc"] == 0 and first["changed"] is True
    stored = {tuple(e["target"]): e for e in fake.envs("web")}
    assert stored[("production", "preview")]["type"] == "sensitive"
    assert stored[("development",)]["type"] == "encrypted"
    assert all(e["value"] == SECRET for e in stored.values())
    assert all(e["comment"].startswith("hearth:v1:") for e in stored.values())
    assert SECRET not in first["raw"]

    second = run(capsys, fake, variables)
    assert second["changed"] is False
    assert {v["action"] for v in second["variables"]} == {"unchanged"}
    assert second["diff"]["before"] == second["diff"]["after"]


def test_post_uses_upsert_and_one_batch(capsys, fake):
    run(capsys, fake, [{"key": "A", "value": "1", "type": "encrypted"},
                       {"key": "B", "value": "2", "type": "plain"}])
    posts = [r for r in fake.writes() if r["method"] == "POST"]
    assert len(posts) == 1
    assert posts[0]["path"] == "/v10/projects/web/env" and posts[0]["query"]["upsert"] == "true"
    assert sorted(b["key"] for b in posts[0]["body"]) == ["A", "B"]


def test_changed_value_updates_and_diff_masks_values(capsys, fake):
    run(capsys, fake, [{"key": "API_KEY", "value": SECRET, "targets": ["production"]}])
    result = run(capsys, fake, [{"key": "API_KEY", "value": SECRET + "2",
                                 "targets": ["production"]}])
    assert result["changed"] is True
    assert [v["action"] for v in result["variables"]] == ["updated"]
    assert fake.envs("web")[0]["value"] == SECRET + "2"
    assert "API_KEY targets=production type=sensitive" in result["diff"]["after"]
    assert "(new value)" in result["diff"]["after"]
    assert SECRET not in json.dumps(result["diff"])


def test_check_mode_reports_but_writes_nothing(capsys, fake):
    result = run(capsys, fake, [{"key": "API_KEY", "value": SECRET}], check=True)
    assert result["changed"] is True
    assert fake.writes() == [] and fake.envs("web") == []
    assert "API_KEY targets=production,preview type=sensitive" in result["diff"]["after"]
    assert result["diff"]["before"] == ""


def test_check_mode_after_apply_is_unchanged(capsys, fake):
    variables = [{"key": "API_KEY", "value": SECRET}, {"key": "PUBLIC", "value": "x",
                                                       "type": "plain"}]
    run(capsys, fake, variables)
    writes = len(fake.writes())
    result = run(capsys, fake, variables, check=True)
    assert result["changed"] is False and len(fake.writes()) == writes


def test_readable_value_set_elsewhere_compares_by_value(capsys, fake):
    fake.add_env("web", "REGION", "eu", ["production", "preview", "development"])
    result = run(capsys, fake, [{"key": "REGION", "value": "eu", "type": "encrypted"}])
    assert result["changed"] is False and fake.writes() == []


def test_sensitive_value_set_elsewhere_is_rewritten_once(capsys, fake):
    fake.add_env("web", "TOKEN_X", "abc", ["production"], type_="sensitive")
    variables = [{"key": "TOKEN_X", "value": "abc", "targets": ["production"]}]
    assert run(capsys, fake, variables)["changed"] is True
    assert run(capsys, fake, variables)["changed"] is False


def test_all_targets_encrypted_entry_becomes_sensitive_plus_development(capsys, fake):
    fake.add_env("web", "DB_URL", "postgres://x", ["production", "preview", "development"])
    result = run(capsys, fake, [{"key": "DB_URL", "value": "postgres://x"}])
    assert result["changed"] is True
    actions = sorted((v["action"], tuple(v["targets"])) for v in result["variables"])
    assert actions == [("created", ("development",)), ("created", ("production", "preview")),
                       ("deleted", ("production", "preview", "development"))]
    types = sorted((tuple(e["target"]), e["type"]) for e in fake.envs("web"))
    assert types == [(("development",), "encrypted"), (("production", "preview"), "sensitive")]


def test_entry_covering_unnamed_targets_is_a_conflict_before_any_write(capsys, fake):
    fake.add_env("web", "DB_URL", "x", ["production", "preview", "development"])
    result = run(capsys, fake, [{"key": "DB_URL", "value": "y", "targets": ["production"]}])
    assert result["rc"] == 1 and result["failed"] is True
    assert "DB_URL" in result["msg"] and "preview, development" in result["msg"]
    assert fake.writes() == []


def test_absent_deletes_only_that_key(capsys, fake):
    fake.add_env("web", "OLD", "x", ["production"])
    fake.add_env("web", "KEEP", "y", ["production"])
    result = run(capsys, fake, [{"key": "OLD", "state": "absent"}])
    assert result["changed"] is True
    assert [e["key"] for e in fake.envs("web")] == ["KEEP"]
    assert run(capsys, fake, [{"key": "OLD", "state": "absent"}])["changed"] is False


def test_201_with_failed_entries_is_an_error(capsys, fake):
    fake.reject_keys["BAD"] = "invalid_value"
    result = run(capsys, fake, [{"key": "GOOD", "value": "good-value", "type": "plain"},
                                {"key": "BAD", "value": SECRET, "type": "encrypted"}])
    assert result["rc"] == 1
    assert "BAD [production,preview,development]: invalid_value" in result["msg"]
    assert "Vercel refused 1 variable(s)" in result["msg"]
    assert SECRET not in result["raw"]


def test_unknown_token_401_names_the_token(capsys, fake):
    result = run(capsys, fake, [{"key": "A", "value": "value-a"}], token="wrong-token")
    assert result["rc"] == 1 and result["status"] == 401
    assert "token" in result["msg"] and "wrong-token" not in result["raw"]


def test_team_without_membership_is_403(capsys, fake):
    result = run(capsys, fake, [{"key": "A", "value": "1"}], team_slug="acme")
    assert result["rc"] == 1 and result["status"] == 403
    assert "team scope" in result["msg"]


@pytest.mark.parametrize("scope", [{"team_id": "team_acme"}, {"team_slug": "acme"}])
def test_team_scope_writes_the_team_project(capsys, fake, scope):
    result = run(capsys, fake, [{"key": "A", "value": "1", "type": "plain"}], token=TEAM_TOKEN,
                 **scope)
    assert result["rc"] == 0 and result["changed"] is True
    assert [e["key"] for e in fake.envs("web", team_id="team_acme")] == ["A"]
    assert fake.envs("web") == []
    assert all(("teamId" in r["query"]) or ("slug" in r["query"]) for r in fake.requests)


def test_unknown_project_is_404(capsys, fake):
    result = run(capsys, fake, [{"key": "A", "value": "1"}], project="nope")
    assert result["rc"] == 1 and result["status"] == 404 and "nope" in result["msg"]


def test_sensitive_development_is_refused_before_calling_the_api(capsys, fake):
    result = run(capsys, fake, [{"key": "A", "value": "1", "type": "sensitive"}])
    assert result["rc"] == 1 and "development" in result["msg"]
    assert fake.requests == []


def test_duplicate_keys_are_refused(capsys, fake):
    result = run(capsys, fake, [{"key": "A", "value": "1"}, {"key": "A", "value": "2"}])
    assert result["rc"] == 1 and "listed twice" in result["msg"]


def test_git_branch_preview_entry(capsys, fake):
    variables = [{"key": "FEATURE", "value": "on", "targets": ["preview"],
                  "git_branch": "feature-x"}]
    assert run(capsys, fake, variables)["changed"] is True
    assert fake.envs("web")[0]["gitBranch"] == "feature-x"
    assert run(capsys, fake, variables)["changed"] is False


def test_comment_is_kept_and_change_of_comment_is_a_change(capsys, fake):
    variables = [{"key": "A", "value": "1", "type": "plain", "comment": "owner: web team"}]
    run(capsys, fake, variables)
    assert fake.envs("web")[0]["comment"].startswith("owner: web team hearth:v1:")
    variables[0]["comment"] = "owner: platform"
    assert run(capsys, fake, variables)["changed"] is True


def test_unreachable_api_is_a_clear_error(capsys):
    args = {"project": "web", "token": TOKEN, "api_url": "http://127.0.0.1:9",
            "variables": [{"key": "A", "value": "1"}], "timeout": 5}
    with patch_module_args(args), pytest.raises(SystemExit):
        vercel_env.main()
    result = json.loads(capsys.readouterr().out)
    assert "cannot reach the Vercel API" in result["msg"]
