# -*- coding: utf-8 -*-
"""Build the frontend's ``vercel.json`` from the platform's facts.

The frontend stays on Vercel (what CloudFront and an S3 static site used to do); its API
calls go to the environment's Caddy edge. ``vercel_json`` produces the whole file: the schema
reference, one rewrite per API prefix to ``https://<edge>/<prefix>/...`` and a baseline of
security headers. Extra configuration is merged in, except for keys Vercel has deprecated
(``env``, ``build.env``, ``builds``, ``name``, ``alias``, ``scope``) or that cannot be combined
with rewrites and headers (``routes``): those are refused with the replacement to use.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - only without Ansible installed
    class AnsibleFilterError(Exception):  # type: ignore[no-redef]
        """Stand-in so the pure functions stay importable without Ansible."""

SCHEMA_URL = "https://openapi.vercel.sh/vercel.json"
DEFAULT_API_PREFIXES = ("/api", "/llm")
HSTS_MAX_AGE = 63072000  # two years, the value HSTS preload lists ask for

# Deprecated or conflicting top-level keys, with what to do instead.
REJECTED_KEYS: Dict[str, str] = {
    "env": "set environment variables in the project (Hearth's vercel_env module), "
           "not in vercel.json",
    "builds": "legacy build configuration; let the framework preset build and configure "
              "functions with 'functions'",
    "routes": "legacy routing that cannot be combined with 'rewrites' and 'headers'; "
              "use 'rewrites', 'redirects' and 'headers'",
    "name": "deprecated; link the checkout to its project instead",
    "alias": "deprecated; assign domains in the project settings",
    "scope": "deprecated; pass the team to the CLI or API",
}
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PREFIX = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")


def _check_edge_host(edge_host: Any) -> str:
    """A bare DNS name (no scheme, port or path), lowercased."""
    if not isinstance(edge_host, str) or not edge_host.strip():
        raise AnsibleFilterError("vercel_json: edge_host must be the edge's DNS name "
                                 "(e.g. api.example.com), got %r" % (edge_host,))
    host = edge_host.strip().lower().rstrip(".")
    if "://" in host or "/" in host or ":" in host:
        raise AnsibleFilterError("vercel_json: edge_host must be a bare host name without scheme, "
                                 "port or path (e.g. api.example.com), got %r" % (edge_host,))
    labels = host.split(".")
    if len(labels) < 2 or len(host) > 253 or not all(_HOST_LABEL.match(lb) for lb in labels):
        raise AnsibleFilterError("vercel_json: edge_host %r is not a fully qualified DNS name"
                                 % (edge_host,))
    return host


def _check_prefixes(api_prefixes: Any) -> List[str]:
    """Distinct path prefixes such as ``/api``: leading slash, no trailing slash, not ``/``."""
    if isinstance(api_prefixes, str) or not isinstance(api_prefixes, Sequence) or \
            not api_prefixes:
        raise AnsibleFilterError("vercel_json: api_prefixes must be a non-empty list of paths "
                                 "like ['/api', '/llm'], got %r" % (api_prefixes,))
    seen: List[str] = []
    for prefix in api_prefixes:
        if not isinstance(prefix, str) or not _PREFIX.match(prefix):
            raise AnsibleFilterError("vercel_json: API prefix %r must look like '/api' (leading "
                                     "'/', no trailing '/', letters, digits, '._~-')" % (prefix,))
        if prefix in seen:
            raise AnsibleFilterError("vercel_json: API prefix %r is listed twice" % prefix)
        seen.append(prefix)
    return seen


def api_rewrites(edge_host: str, prefixes: Sequence[str]) -> List[Dict[str, str]]:
    """One rewrite per prefix; ``:path*`` also matches the bare prefix."""
    return [{"source": "%s/:path*" % p, "destination": "https://%s%s/:path*" % (edge_host, p)}
            for p in prefixes]


def security_headers(frame_ancestors: Sequence[str] = (), hsts_preload: bool = False,
                     permissions_policy: Optional[str] = None) -> List[Dict[str, str]]:
    """Headers every response carries: HSTS, no sniffing, referrer and framing policy."""
    hsts = "max-age=%d; includeSubDomains" % HSTS_MAX_AGE + ("; preload" if hsts_preload else "")
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    headers = [
        {"key": "Strict-Transport-Security", "value": hsts},
        {"key": "X-Content-Type-Options", "value": "nosniff"},
        {"key": "Referrer-Policy", "value": "strict-origin-when-cross-origin"},
        {"key": "Content-Security-Policy", "value": "frame-ancestors %s" % ancestors},
        {"key": "Permissions-Policy",
         "value": permissions_policy or "camera=(), microphone=(), geolocation=(), "
                                        "browsing-topics=()"},
    ]
    # X-Frame-Options only knows DENY and SAMEORIGIN; other ancestors rely on the CSP alone.
    if not frame_ancestors:
        headers.append({"key": "X-Frame-Options", "value": "DENY"})
    elif list(frame_ancestors) == ["'self'"]:
        headers.append({"key": "X-Frame-Options", "value": "SAMEORIGIN"})
    return headers


def check_extra(extra: Any) -> Dict[str, Any]:
    """Refuse deprecated keys in extra configuration; return a deep copy to merge."""
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise AnsibleFilterError("vercel_json: extra must be a mapping of vercel.json keys, got %r"
                                 % (extra,))
    for key in extra:
        if key in REJECTED_KEYS:
            raise AnsibleFilterError("vercel_json: key %r is not allowed in vercel.json: %s"
                                     % (key, REJECTED_KEYS[key]))
    build = extra.get("build")
    if isinstance(build, Mapping) and "env" in build:
        raise AnsibleFilterError("vercel_json: key 'build.env' is not allowed in vercel.json: "
                                 "deprecated; set build-time variables in the project "
                                 "(Hearth's vercel_env module)")
    for key in ("rewrites", "headers", "redirects"):
        if key in extra and not isinstance(extra[key], list):
            raise AnsibleFilterError("vercel_json: extra %r must be a list, got %r"
                                     % (key, extra[key]))
    return copy.deepcopy(dict(extra))


def vercel_json(edge_host: Any, api_prefixes: Any = DEFAULT_API_PREFIXES,
                extra: Any = None, frame_ancestors: Sequence[str] = (),
                hsts_preload: bool = False,
                permissions_policy: Optional[str] = None) -> Dict[str, Any]:
    """The frontend's vercel.json as a dict (render with ``to_nice_json``).

    API rewrites come first so a catch-all rewrite in ``extra`` (an SPA fallback) cannot
    shadow them; extra rewrites, headers and redirects are appended after Hearth's.
    """
    host = _check_edge_host(edge_host)
    prefixes = _check_prefixes(api_prefixes)
    merged = check_extra(extra)
    config: Dict[str, Any] = {
        "$schema": SCHEMA_URL,
        "rewrites": api_rewrites(host, prefixes) + merged.pop("rewrites", []),
        "headers": [{"source": "/(.*)",
                     "headers": security_headers(frame_ancestors, hsts_preload,
                                                 permissions_policy)}]
        + merged.pop("headers", []),
    }
    merged.pop("$schema", None)
    config.update(merged)
    return config


class FilterModule:
    """Vercel filters."""

    def filters(self) -> Dict[str, Any]:
        return {"vercel_json": vercel_json}
