"""The vercel_json filter: rewrites to the edge, security headers, refused legacy keys."""
from __future__ import annotations

import json
from typing import Any, Dict

import jsonschema
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hearth.platform.plugins.filter.vercel import REJECTED_KEYS, SCHEMA_URL, FilterModule, vercel_json

# The part of Vercel's published vercel.json schema this filter writes (rewrites, headers).
SCHEMA: Dict[str, Any] = {
    "type": "object",
    "properties": {
        "$schema": {"type": "string"},
        "rewrites": {"type": "array", "maxItems": 2048, "items": {
            "type": "object", "additionalProperties": False, "required": ["source", "destination"],
            "properties": {"source": {"type": "string", "maxLength": 4096},
                           "destination": {"type": "string", "maxLength": 4096},
                           "has": {"type": "array"}, "missing": {"type": "array"}}}},
        "headers": {"type": "array", "maxItems": 2048, "items": {
            "type": "object", "additionalProperties": False, "required": ["source", "headers"],
            "properties": {"source": {"type": "string", "maxLength": 4096},
                           "headers": {"type": "array", "maxItems": 1024, "items": {
                               "type": "object", "additionalProperties": False,
                               "required": ["key", "value"],
                               "properties": {"key": {"type": "string", "maxLength": 4096},
                                              "value": {"type": "string",
                                                        "maxLength": 4096}}}},
                           "has": {"type": "array"}, "missing": {"type": "array"}}}},
    },
}


def headers_of(config: Dict[str, Any]) -> Dict[str, str]:
    return {h["key"]: h["value"] for h in config["headers"][0]["headers"]}


def test_rewrites_every_prefix_to_the_edge() -> None:
    config = vercel_json("api.example.com", ["/api", "/llm"])
    assert config["$schema"] == SCHEMA_URL
    assert config["rewrites"] == [
        {"source": "/api/:path*", "destination": "https://api.example.com/api/:path*"},
        {"source": "/llm/:path*", "destination": "https://api.example.com/llm/:path*"}]
    jsonschema.validate(config, SCHEMA)
    json.dumps(config)


def test_security_headers_apply_to_every_path() -> None:
    config = vercel_json("api.example.com")
    assert config["headers"][0]["source"] == "/(.*)"
    headers = headers_of(config)
    assert headers["Strict-Transport-Security"].startswith("max-age=63072000")
    assert "preload" not in headers["Strict-Transport-Security"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert "camera=()" in headers["Permissions-Policy"]


def test_frame_ancestors_self_maps_to_sameorigin() -> None:
    headers = headers_of(vercel_json("api.example.com", frame_ancestors=["'self'"]))
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    other = headers_of(vercel_json("api.example.com",
                                   frame_ancestors=["https://partner.example"]))
    assert "X-Frame-Options" not in other
    assert other["Content-Security-Policy"] == "frame-ancestors https://partner.example"


def test_extra_rewrites_come_after_api_rewrites_and_keys_merge() -> None:
    extra = {"rewrites": [{"source": "/(.*)", "destination": "/index.html"}],
             "cleanUrls": True, "$schema": "ignored"}
    config = vercel_json("api.example.com", ["/api"], extra=extra)
    assert [r["source"] for r in config["rewrites"]] == ["/api/:path*", "/(.*)"]
    assert config["cleanUrls"] is True and config["$schema"] == SCHEMA_URL
    assert extra["rewrites"] == [{"source": "/(.*)", "destination": "/index.html"}]


@pytest.mark.parametrize("key", sorted(REJECTED_KEYS))
def test_legacy_keys_are_refused_with_the_reason(key: str) -> None:
    with pytest.raises(AnsibleFilterError, match="key '%s' is not allowed" % key):
        vercel_json("api.example.com", extra={key: {}})


def test_build_env_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="build.env"):
        vercel_json("api.example.com", extra={"build": {"env": {"A": "1"}}})


@pytest.mark.parametrize("host", ["https://api.example.com", "api.example.com:443",
                                  "api.example.com/x", "localhost", "", None, "-bad.example.com",
                                  "a..example.com"])
def test_bad_edge_host(host: Any) -> None:
    with pytest.raises(AnsibleFilterError, match="edge_host"):
        vercel_json(host)


@pytest.mark.parametrize("prefixes", [[], "/api", ["api"], ["/api/"], ["/"], ["/api", "/api"],
                                      ["/a b"]])
def test_bad_prefixes(prefixes: Any) -> None:
    with pytest.raises(AnsibleFilterError, match="prefix"):
        vercel_json("api.example.com", prefixes)


def test_extra_must_be_a_mapping_with_list_rules() -> None:
    with pytest.raises(AnsibleFilterError, match="extra must be a mapping"):
        vercel_json("api.example.com", extra=["x"])
    with pytest.raises(AnsibleFilterError, match="'headers' must be a list"):
        vercel_json("api.example.com", extra={"headers": {}})


def test_filter_is_registered() -> None:
    assert FilterModule().filters()["vercel_json"] is vercel_json
