"""Tests for plugins/filter/caddy.py: site validation, merging and Caddyfile rendering."""
from __future__ import annotations

import re
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.hearth.platform.plugins.filter.caddy import (
    caddy_api_key_env,
    caddy_api_key_problems,
    caddy_caddyfile,
    caddy_merge_sites,
    caddy_sites,
)

KEY = "k" * 32


def site(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "web",
        "hosts": ["web.example.com"],
        "routes": [{"path": "/", "upstreams": ["127.0.0.1:8080"]}],
    }
    base.update(overrides)
    return base


def render(sites: list[dict[str, Any]], keys: list[str] | None = None, *extra: Any) -> str:
    return caddy_caddyfile(caddy_sites(sites, keys or [], *extra))


def test_minimal_site_renders_a_proxy_with_default_timeouts() -> None:
    text = render([site()])
    assert "web.example.com {" in text
    assert "\thandle {" in text
    assert "reverse_proxy 127.0.0.1:8080 {" in text
    assert "read_timeout 300s" in text
    assert "flush_interval" not in text


def test_streaming_route_flushes_at_once_and_waits_long() -> None:
    text = render([site(routes=[{"path": "/llm/v1", "upstreams": ["10.0.0.2:8000"], "streaming": True}])])
    assert "flush_interval -1" in text
    assert "read_timeout 3600s" in text
    assert "@hearth_route_0 path /llm/v1 /llm/v1/*" in text


def test_explicit_timeouts_override_the_streaming_defaults() -> None:
    route = {"path": "/", "upstreams": ["a:1"], "streaming": True, "timeouts": {"read": "2h"}}
    text = render([site(routes=[route])])
    assert "read_timeout 2h" in text and "write_timeout 3600s" in text


def test_bearer_route_refers_to_keys_by_placeholder_only() -> None:
    route = {"path": "/api", "upstreams": ["a:1"], "auth": "bearer"}
    text = render([site(routes=[route])], ["ci", "app"])
    assert 'header Authorization "Bearer {$HEARTH_API_KEY_CI}"' in text
    assert 'header Authorization "Bearer {$HEARTH_API_KEY_APP}"' in text
    assert 'respond @hearth_unauthorized "unauthorized" 401' in text
    assert KEY not in text


def test_bearer_route_can_be_limited_to_named_keys() -> None:
    route = {"path": "/api", "upstreams": ["a:1"], "auth": "bearer", "api_keys": ["ci"]}
    text = render([site(routes=[route])], ["ci", "app"])
    assert "HEARTH_API_KEY_CI" in text and "HEARTH_API_KEY_APP" not in text


def test_bearer_without_any_key_is_rejected() -> None:
    with pytest.raises(AnsibleFilterError, match=r"caddy_sites\[0\]\.routes\[0\]\.auth: bearer auth needs"):
        render([site(routes=[{"path": "/", "upstreams": ["a:1"], "auth": "bearer"}])])


def test_unknown_key_name_is_rejected() -> None:
    route = {"path": "/", "upstreams": ["a:1"], "auth": "bearer", "api_keys": ["nobody"]}
    with pytest.raises(AnsibleFilterError, match="no such key"):
        render([site(routes=[route])], ["ci"])


def test_routes_render_longest_path_first() -> None:
    routes = [{"path": p, "upstreams": ["a:1"]} for p in ("/", "/a", "/a/b/c", "/a/b")]
    text = render([site(routes=routes)])
    order = [text.index(f"path {p} ") for p in ("/a/b/c", "/a/b", "/a")]
    assert order == sorted(order)
    assert text.index("path /a ") < text.index("\thandle {")


def test_strip_prefix_rewrites_the_uri() -> None:
    text = render([site(routes=[{"path": "/app/", "upstreams": ["a:1"], "strip_prefix": True}])])
    assert "uri strip_prefix /app" in text


def test_site_without_catch_all_answers_404() -> None:
    text = render([site(routes=[{"path": "/only", "upstreams": ["a:1"]}])])
    assert 'respond "not found" 404' in text


def test_body_limit_inherits_from_site_and_zero_means_none() -> None:
    text = render([site(max_body_size="10MB", routes=[
        {"path": "/a", "upstreams": ["a:1"]},
        {"path": "/b", "upstreams": ["a:1"], "max_body_size": "0"},
    ])])
    assert text.count("max_size 10MB") == 1


def test_https_upstreams_get_tls_transport() -> None:
    text = render([site(routes=[{"path": "/", "upstreams": ["https://10.0.0.5:8443"]}])])
    assert "\t\t\t\t\ttls" in text


def test_mixed_upstream_schemes_are_rejected() -> None:
    with pytest.raises(AnsibleFilterError, match="same scheme"):
        render([site(routes=[{"path": "/", "upstreams": ["https://a:1", "b:2"]}])])


def test_health_check_is_rendered() -> None:
    route = {"path": "/", "upstreams": ["a:1"], "health": {"uri": "/health", "interval": "30s"}}
    text = render([site(routes=[route])])
    assert "health_uri /health" in text and "health_interval 30s" in text


def test_basic_auth_needs_a_bcrypt_hash() -> None:
    good = "$2a$14$" + "a" * 53
    route = {"path": "/", "respond": {"status": 200}, "auth": "basic",
             "basic_auth": [{"user": "ops", "password_hash": good}]}
    assert f"ops {good}" in render([site(routes=[route])])
    route["basic_auth"] = [{"user": "ops", "password_hash": "plaintext"}]
    with pytest.raises(AnsibleFilterError, match=r"basic_auth\[0\]\.password_hash: expected a bcrypt hash"):
        render([site(routes=[route])])


def test_merge_adds_routes_and_hosts_to_a_named_site() -> None:
    extra = [{"name": "web", "hosts": ["www.example.com"], "routes": [{"path": "/llm/v1", "upstreams": ["b:2"]}]}]
    merged = caddy_merge_sites([site()], extra)
    assert len(merged) == 1
    assert merged[0]["hosts"] == ["web.example.com", "www.example.com"]
    assert [r["path"] for r in merged[0]["routes"]] == ["/", "/llm/v1"]


def test_merge_does_not_modify_its_input() -> None:
    original = [site()]
    caddy_merge_sites(original, [{"name": "web", "routes": [{"path": "/x", "upstreams": ["b:2"]}]}])
    assert len(original[0]["routes"]) == 1


class ContextCarryingDict(dict):  # type: ignore[type-arg]
    """Stands for Ansible's lazily templated containers, whose deep copy drags the host's variables along."""

    def __deepcopy__(self, memo: Any) -> Any:
        raise AssertionError("a filter deep-copied its input")


def test_merge_copies_nested_input_without_deep_copying_it() -> None:
    routes = [ContextCarryingDict(path="/", upstreams=["127.0.0.1:8080"])]
    original = [ContextCarryingDict(name="web", hosts=["web.example.com"], routes=routes)]
    merged = caddy_merge_sites(original, [{"name": "web", "routes": [{"path": "/x", "upstreams": ["b:2"]}]}])
    assert type(merged[0]) is dict and type(merged[0]["routes"][0]) is dict
    assert merged[0]["routes"][0] == {"path": "/", "upstreams": ["127.0.0.1:8080"]}
    assert len(routes) == 1 and merged[0]["routes"][0]["upstreams"] is not routes[0]["upstreams"]


def test_extra_sites_errors_name_the_extra_list() -> None:
    with pytest.raises(AnsibleFilterError, match=r"caddy_extra_sites\[0\]\.routes\[0\]\.upstreams\[0\]"):
        render([site()], [], [{"name": "other", "hosts": ["o.example.com"], "routes": [{"upstreams": ["nope"]}]}])


def test_duplicate_paths_and_hosts_are_rejected() -> None:
    with pytest.raises(AnsibleFilterError, match="defined more than once"):
        render([site(routes=[{"path": "/a", "upstreams": ["a:1"]}, {"path": "/a/", "upstreams": ["a:1"]}])])
    with pytest.raises(AnsibleFilterError, match="already served by site web"):
        render([site(), site(name="other")])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hosts": "web.example.com"}, r"caddy_sites\[0\]\.hosts: expected a list"),
        ({"hosts": ["https://web.example.com"]}, r"hosts\[0\]: expected a DNS name"),
        ({"name": "Web Site"}, r"caddy_sites\[0\]\.name: expected a name"),
        ({"routes": []}, r"routes: expected a non-empty list"),
        ({"colour": "blue"}, r"unknown key\(s\) colour"),
        ({"routes": [{"path": "no-slash", "upstreams": ["a:1"]}]}, r"routes\[0\]\.path: expected a path prefix"),
        ({"routes": [{"path": "/", "upstreams": ["a:1"], "streaming": "yes"}]}, r"streaming: expected true or false"),
        ({"routes": [{"path": "/", "upstreams": ["a:1"], "timeouts": {"read": "forever"}}]}, r"timeouts\.read: expected a duration"),
        ({"routes": [{"path": "/", "upstreams": ["a:1"], "max_body_size": "ten"}]}, r"max_body_size: expected a size"),
        ({"routes": [{"path": "/", "upstreams": ["a:1"], "headers": {"X-A": 'say "hi"'}}]}, r"headers\.X-A: header values"),
        ({"routes": [{"path": "/", "upstreams": ["a:1"], "respond": {"status": 200}}]}, r"either upstreams or respond"),
        ({"routes": [{"path": "/", "upstreams": ["a:1"], "auth": "token"}]}, r"auth: expected one of none, bearer, basic"),
        ({"extra": "handle {"}, r"extra: unbalanced braces"),
    ],
)
def test_bad_site_definitions_name_the_offending_value(change: dict[str, Any], message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        render([site(**change)])


def test_api_key_env_maps_names_to_variables() -> None:
    env = caddy_api_key_env([{"name": "ci_bot", "key": KEY}])
    assert env == {"HEARTH_API_KEY_CI_BOT": {"name": "ci_bot", "key": KEY}}


@pytest.mark.parametrize(
    "keys",
    [
        [{"name": "ci", "key": "short"}],
        [{"name": "ci", "key": KEY + " space"}],
        [{"name": "ci", "key": KEY + '"'}],
        [{"name": "CI", "key": KEY}],
        [{"name": "ci", "key": KEY}, {"name": "ci", "key": KEY}],
        ["just-a-string"],
    ],
)
def test_bad_api_keys_are_reported_without_the_key(keys: list[Any]) -> None:
    problems = caddy_api_key_problems(keys)
    assert len(problems) == 1 and problems[0].startswith("caddy_api_keys[")
    assert "short" not in problems[0] and KEY not in problems[0]


PLACEHOLDER = re.compile(r"\{\$?[A-Za-z_.]+\}")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20))
def test_any_valid_label_renders_balanced_blocks(label: str) -> None:
    """Whatever a valid host label is, every block the renderer opens is closed."""
    text = render([site(hosts=[f"a{label}a.example.com"])], ["ci"])
    depth = 0
    for line in PLACEHOLDER.sub("", text).splitlines():
        depth += line.count("{") - line.count("}")
        assert depth >= 0
    assert depth == 0
