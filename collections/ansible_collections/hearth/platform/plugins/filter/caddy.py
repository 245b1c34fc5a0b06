"""Filters for the caddy role: validate site definitions and render them as Caddyfile text.

Sites come from several places (the role's defaults, group_vars, other roles' wiring) and are
merged by name, so one role can add a route to a site another one defined. Every value that
ends up in the Caddyfile is checked here first: a typo in an inventory should fail with the
path of the bad value (``caddy_sites[1].routes[0].upstreams``), not with a parser error from a
file the user never wrote. ``caddy validate`` still checks the result before it is installed.

Bearer keys never appear in the rendered text: routes refer to them as ``{$HEARTH_API_KEY_<NAME>}``
environment placeholders, which Caddy substitutes from its environment file when it adapts
the Caddyfile. The Caddyfile can therefore be shown in diffs and error messages.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
KEY_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,62}$")
# Bearer keys: URL-safe base64, hex or similar; no spaces or quotes (they sit inside a header).
KEY_RE = re.compile(r"^[A-Za-z0-9._~+/=-]{24,512}$")
HOST_RE = re.compile(
    r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(:[0-9]{1,5})?$"
)
PATH_RE = re.compile(r"^/[A-Za-z0-9._~/-]*$")
UPSTREAM_RE = re.compile(r"^(https?://)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}$")
DURATION_RE = re.compile(r"^[0-9]+(ms|s|m|h)$")
SIZE_RE = re.compile(r"^[0-9]+(B|KB|MB|GB|KiB|MiB|GiB)?$")
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
BCRYPT_RE = re.compile(r"^\$2[aby]?\$[0-9]{2}\$[./A-Za-z0-9]{53}$")
USER_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
AUTH_TYPES = ("none", "bearer", "basic")

SITE_KEYS = {"name", "hosts", "routes", "headers", "max_body_size", "extra"}
ROUTE_KEYS = {
    "path", "upstreams", "strip_prefix", "auth", "api_keys", "basic_auth", "max_body_size",
    "streaming", "timeouts", "health", "headers", "headers_up", "lb_policy", "respond", "upstream_key",
    "upstreams_import", "lb_try_duration",
}
# Files of `to host:port` lines that another role rewrites while Caddy runs (rolling deploys).
IMPORT_RE = re.compile(r"^/[A-Za-z0-9_./*-]+\.caddy$")
TIMEOUT_KEYS = {"dial", "read", "write", "response_header"}
HEALTH_KEYS = {"uri", "interval", "timeout", "status"}

# Streaming LLM responses (SSE) may pause for minutes between tokens on a busy GPU.
STREAMING_TIMEOUTS = {"dial": "5s", "read": "3600s", "write": "3600s", "response_header": "600s"}
DEFAULT_TIMEOUTS = {"dial": "5s", "read": "300s", "write": "300s", "response_header": "120s"}

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "-Server": "",
}


def _err(where: str, message: str) -> AnsibleFilterError:
    return AnsibleFilterError(f"{where}: {message}")


def _require_mapping(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _err(where, f"expected a mapping, got {type(value).__name__} {value!r}")
    return value


def _require_list(where: str, value: Any, allow_empty: bool = False) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise _err(where, f"expected a list, got {type(value).__name__} {value!r}")
    if not value and not allow_empty:
        raise _err(where, "expected a non-empty list")
    return list(value)


def _unknown_keys(where: str, value: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _err(where, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _match(where: str, value: Any, pattern: re.Pattern[str], shape: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise _err(where, f"expected {shape}, got {value!r}")
    return value


def _header_value(where: str, value: Any) -> str:
    text = str(value)
    if any(ch in text for ch in '"\\\r\n\t') or any(ord(ch) < 32 for ch in text):
        raise _err(where, f"header values may not contain quotes, backslashes or control characters, got {text!r}")
    return text


def _headers(where: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    mapping = _require_mapping(where, value)
    result: dict[str, str] = {}
    for name, val in mapping.items():
        bare = name[1:] if isinstance(name, str) and name.startswith("-") else name
        _match(f"{where}.{name}", bare, HEADER_NAME_RE, "an HTTP header name (a leading '-' removes it)")
        result[name] = _header_value(f"{where}.{name}", "" if val is None else val)
    return result


def _size(where: str, value: Any) -> str | None:
    if value is None:
        return None
    return _match(where, str(value), SIZE_RE, "a size such as 10MB, 512KiB or 0 for no limit")


def _timeouts(where: str, value: Any, streaming: bool) -> dict[str, str]:
    result = dict(STREAMING_TIMEOUTS if streaming else DEFAULT_TIMEOUTS)
    if value is None:
        return result
    mapping = _require_mapping(where, value)
    _unknown_keys(where, mapping, TIMEOUT_KEYS)
    for key, val in mapping.items():
        result[key] = _match(f"{where}.{key}", str(val), DURATION_RE, "a duration such as 30s, 5m or 1h")
    return result


def _health(where: str, value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    mapping = _require_mapping(where, value)
    _unknown_keys(where, mapping, HEALTH_KEYS)
    uri = _match(f"{where}.uri", mapping.get("uri"), PATH_RE, "a path such as /health")
    result = {"uri": uri, "interval": "10s", "timeout": "5s", "status": "2xx"}
    for key in ("interval", "timeout"):
        if key in mapping:
            result[key] = _match(f"{where}.{key}", str(mapping[key]), DURATION_RE, "a duration such as 10s")
    if "status" in mapping:
        result["status"] = _match(f"{where}.status", str(mapping["status"]), re.compile(r"^[1-5]([0-9]{2}|xx)$"),
                                  "an HTTP status such as 200 or 2xx")
    return result


def _basic_auth(where: str, value: Any) -> list[dict[str, str]]:
    users = _require_list(where, value)
    result = []
    for index, entry in enumerate(users):
        here = f"{where}[{index}]"
        mapping = _require_mapping(here, entry)
        _unknown_keys(here, mapping, {"user", "password_hash"})
        result.append({
            "user": _match(f"{here}.user", mapping.get("user"), USER_RE, "a user name of letters, digits, ._@-"),
            "password_hash": _match(f"{here}.password_hash", mapping.get("password_hash"), BCRYPT_RE,
                                    "a bcrypt hash from `caddy hash-password`"),
        })
    return result


def _route(where: str, value: Any, key_names: list[str], site_body: str | None) -> dict[str, Any]:
    route = _require_mapping(where, value)
    _unknown_keys(where, route, ROUTE_KEYS)
    path = _match(f"{where}.path", route.get("path", "/"), PATH_RE, "a path prefix starting with /")
    respond = route.get("respond")
    upstreams: list[str] = []
    if respond is None:
        # A route whose upstreams come from imported files may start with none of its own.
        upstreams = [_match(f"{where}.upstreams[{i}]", str(u), UPSTREAM_RE, "host:port or http(s)://host:port")
                     for i, u in enumerate(_require_list(f"{where}.upstreams", route.get("upstreams", []),
                                                         allow_empty="upstreams_import" in route))]
        schemes = {u.split("://")[0] if "://" in u else "http" for u in upstreams}
        if len(schemes) > 1:
            raise _err(f"{where}.upstreams", "all upstreams of one route must use the same scheme")
    else:
        if "upstreams" in route or "upstreams_import" in route:
            raise _err(where, "give either upstreams or respond, not both")
        respond = _require_mapping(f"{where}.respond", respond)
        _unknown_keys(f"{where}.respond", respond, {"status", "body"})
        status = respond.get("status", 200)
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise _err(f"{where}.respond.status", f"expected an HTTP status code, got {status!r}")
        respond = {"status": status, "body": _header_value(f"{where}.respond.body", respond.get("body", ""))}

    auth = route.get("auth", "none")
    if auth not in AUTH_TYPES:
        raise _err(f"{where}.auth", f"expected one of {', '.join(AUTH_TYPES)}, got {auth!r}")
    api_keys: list[str] = []
    basic: list[dict[str, str]] = []
    if auth == "bearer":
        api_keys = [str(k) for k in _require_list(f"{where}.api_keys", route.get("api_keys", key_names))] \
            if key_names or route.get("api_keys") else []
        if not api_keys:
            raise _err(f"{where}.auth", "bearer auth needs at least one key in caddy_api_keys")
        missing = sorted(set(api_keys) - set(key_names))
        if missing:
            raise _err(f"{where}.api_keys", f"no such key(s) in caddy_api_keys: {', '.join(missing)}")
    elif "api_keys" in route:
        raise _err(f"{where}.api_keys", "only meaningful with auth: bearer")
    if auth == "basic":
        basic = _basic_auth(f"{where}.basic_auth", route.get("basic_auth"))
    elif "basic_auth" in route:
        raise _err(f"{where}.basic_auth", "only meaningful with auth: basic")

    streaming = route.get("streaming", False)
    strip = route.get("strip_prefix", False)
    for key, flag in (("streaming", streaming), ("strip_prefix", strip)):
        if not isinstance(flag, bool):
            raise _err(f"{where}.{key}", f"expected true or false, got {flag!r}")
    lb_policy = route.get("lb_policy", "round_robin")
    if lb_policy not in ("round_robin", "least_conn", "first", "random", "ip_hash"):
        raise _err(f"{where}.lb_policy", f"expected round_robin, least_conn, first, random or ip_hash, got {lb_policy!r}")
    body = _size(f"{where}.max_body_size", route.get("max_body_size"))
    upstream_key = route.get("upstream_key")
    if upstream_key is not None:
        upstream_key = _match(f"{where}.upstream_key", upstream_key, KEY_NAME_RE,
                              "the name of a caddy_upstream_keys entry (lowercase letters, digits, _)")
        if respond is not None:
            raise _err(f"{where}.upstream_key", "only meaningful for a route with upstreams")
    upstreams_import = route.get("upstreams_import")
    if upstreams_import is not None:
        upstreams_import = _match(f"{where}.upstreams_import", upstreams_import, IMPORT_RE,
                                  "an absolute path (glob) of .caddy files holding `to host:port` lines")
    try_duration = route.get("lb_try_duration")
    if try_duration is not None:
        try_duration = _match(f"{where}.lb_try_duration", try_duration, DURATION_RE, "a duration such as 5s")
    return {
        "path": path.rstrip("/") or "/",
        "upstreams": upstreams,
        "upstreams_import": upstreams_import,
        "lb_try_duration": try_duration,
        "respond": respond,
        "strip_prefix": strip,
        "auth": auth,
        "api_keys": api_keys,
        "basic_auth": basic,
        "max_body_size": body if body is not None else site_body,
        "streaming": streaming,
        "timeouts": _timeouts(f"{where}.timeouts", route.get("timeouts"), streaming),
        "health": _health(f"{where}.health", route.get("health")),
        "headers": _headers(f"{where}.headers", route.get("headers")),
        "headers_up": _headers(f"{where}.headers_up", route.get("headers_up")),
        "lb_policy": lb_policy,
        "upstream_key": upstream_key,
    }


def _extra(where: str, value: Any) -> str:
    """Raw Caddyfile lines for a site: an escape hatch for directives this schema lacks.

    Only balanced braces are checked here; `caddy validate` judges the rest.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _err(where, f"expected Caddyfile text (a string), got {type(value).__name__}")
    depth = 0
    for char in value:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0:
        raise _err(where, "unbalanced braces: the text must not close or leave open the site block")
    return value


def _plain(value: Any) -> Any:
    """A copy of nested mappings and lists as plain dicts and lists (scalars are shared).

    Used instead of copy.deepcopy: Ansible hands filters lazily templated containers, and deep
    copying one copies the template context it carries, every variable of the host with it,
    which made one call cost seconds late in a long play.
    """
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def caddy_merge_sites(sites: Any, *extra: Any) -> list[dict[str, Any]]:
    """Merge site lists by name: a later site with a known name adds its hosts and routes.

    This is how another role or an inventory adds a route (an LLM endpoint, an app) to a site
    it did not define, without copying the whole site.
    """
    merged: dict[str, dict[str, Any]] = {}
    for list_index, source in enumerate((sites, *extra)):
        label = "caddy_sites" if list_index == 0 else "caddy_extra_sites"
        for index, site in enumerate(_require_list(label, source if source is not None else [], allow_empty=True)):
            where = f"{label}[{index}]"
            site = _require_mapping(where, site)
            name = _match(f"{where}.name", site.get("name"), NAME_RE, "a name of lowercase letters, digits, _ and -")
            if name not in merged:
                merged[name] = _plain(site)
                merged[name]["__where"] = where
                continue
            target = merged[name]
            for key in ("hosts", "routes"):
                target[key] = list(target.get(key) or []) + list(_require_list(f"{where}.{key}", site.get(key, []), True))
            for key in ("headers",):
                target[key] = {**(target.get(key) or {}), **_require_mapping(f"{where}.{key}", site.get(key) or {})}
            if site.get("max_body_size") is not None:
                target["max_body_size"] = site["max_body_size"]
    return list(merged.values())


def caddy_sites(sites: Any, key_names: Any = None, *extra: Any) -> list[dict[str, Any]]:
    """Validate and normalise site definitions (after merging by name); raise on bad input.

    key_names: the names in caddy_api_keys (never the keys). Returns sites with every default
    filled in, ready for caddy_caddyfile.
    """
    key_names = [str(name) for name in _require_list("caddy_api_keys names", key_names or [], allow_empty=True)]
    result = []
    seen_hosts: dict[str, str] = {}
    for site in caddy_merge_sites(sites, *extra):
        where = site.pop("__where")
        _unknown_keys(where, site, SITE_KEYS)
        hosts = [_match(f"{where}.hosts[{i}]", h, HOST_RE, "a DNS name (optionally *. and :port), no scheme")
                 for i, h in enumerate(_require_list(f"{where}.hosts", site.get("hosts")))]
        for host in hosts:
            if host in seen_hosts:
                raise _err(f"{where}.hosts", f"host {host} is already served by site {seen_hosts[host]}")
            seen_hosts[host] = site["name"]
        site_body = _size(f"{where}.max_body_size", site.get("max_body_size"))
        routes = [_route(f"{where}.routes[{i}]", r, key_names, site_body)
                  for i, r in enumerate(_require_list(f"{where}.routes", site.get("routes")))]
        paths = [r["path"] for r in routes]
        duplicates = sorted({p for p in paths if paths.count(p) > 1})
        if duplicates:
            raise _err(f"{where}.routes", f"path(s) {', '.join(duplicates)} defined more than once")
        result.append({
            "name": site["name"],
            "hosts": hosts,
            "headers": {**SECURITY_HEADERS, **_headers(f"{where}.headers", site.get("headers"))},
            "routes": sorted(routes, key=lambda r: (-len(r["path"]), r["path"])),
            "extra": _extra(f"{where}.extra", site.get("extra")),
        })
    return result


def caddy_api_key_env(api_keys: Any) -> dict[str, dict[str, str]]:
    """Map caddy_api_keys entries to environment variable names: {VAR: {name, key}}.

    Raises with the entry's index (never its value) when a name or key is malformed.
    """
    result: dict[str, dict[str, str]] = {}
    for index, entry in enumerate(_require_list("caddy_api_keys", api_keys, allow_empty=True)):
        where = f"caddy_api_keys[{index}]"
        if not isinstance(entry, dict):
            raise _err(where, "expected a mapping with name and key")
        _unknown_keys(where, entry, {"name", "key"})
        name = _match(f"{where}.name", entry.get("name"), KEY_NAME_RE, "a name of lowercase letters, digits and _")
        key = entry.get("key")
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise _err(f"{where}.key", "expected 24-512 characters of A-Z a-z 0-9 . _ ~ + / = - (value not shown)")
        var = f"HEARTH_API_KEY_{name.upper()}"
        if var in result:
            raise _err(where, f"key name {name} is used twice")
        result[var] = {"name": name, "key": key}
    return result


def caddy_upstream_key_env(upstream_keys: Any) -> dict[str, str]:
    """Map caddy_upstream_keys ({name: key}) to environment variables: {HEARTH_UPSTREAM_KEY_<NAME>: key}."""
    if upstream_keys in (None, ""):
        return {}
    if not isinstance(upstream_keys, dict):
        raise _err("caddy_upstream_keys", f"expected a mapping of names to keys, got {type(upstream_keys).__name__}")
    env: dict[str, str] = {}
    for name, key in upstream_keys.items():
        _match(f"caddy_upstream_keys names ({name!r})", name, KEY_NAME_RE, "lowercase letters, digits and _")
        env[f"HEARTH_UPSTREAM_KEY_{str(name).upper()}"] = "" if key is None else str(key)
    return env


def caddy_upstream_key_problems(sites: Any, upstream_keys: Any) -> list[str]:
    """Routes whose upstream_key has no usable value in caddy_upstream_keys; messages never hold a key."""
    values = upstream_keys if isinstance(upstream_keys, dict) else {}
    problems = []
    for site in sites or []:
        for route in site.get("routes", []):
            name = route.get("upstream_key")
            if not name:
                continue
            value = values.get(name)
            if not isinstance(value, str) or not KEY_RE.match(value):
                problems.append(
                    f"site {site.get('name')} route {route.get('path')} sends the secret {name} upstream, but "
                    f"caddy_upstream_keys.{name} is {'missing' if value is None else 'not a 24-512 character token'}"
                    f"; set {name} in the environment's vault"
                )
    return problems


def caddy_api_key_problems(api_keys: Any) -> list[str]:
    """What is wrong with caddy_api_keys, as messages that never contain a key; [] when fine.

    Lets a task report the problem without logging the secret input it came from.
    """
    try:
        caddy_api_key_env(api_keys)
    except AnsibleFilterError as exc:
        return [str(exc.message)]
    return []


def _q(text: str) -> str:
    return '"' + text + '"'


def _render_headers(lines: list[str], indent: str, headers: dict[str, str], directive: str = "") -> None:
    """One line per header; a name starting with '-' deletes that header."""
    prefix = f"{indent}{directive} " if directive else indent
    for name, value in headers.items():
        lines.append(f"{prefix}{name}" if name.startswith("-") else f"{prefix}{name} {_q(value)}")


def _render_proxy(lines: list[str], indent: str, route: dict[str, Any]) -> None:
    lines.append(" ".join([f"{indent}reverse_proxy", *route["upstreams"], "{"]))
    inner = indent + "\t"
    if route.get("upstreams_import"):
        # Rewritten by rolling deploys, then Caddy reloads gracefully; no file means no upstream.
        lines.append(f"{inner}import {route['upstreams_import']}")
    lines.append(f"{inner}lb_policy {route['lb_policy']}")
    if route.get("lb_try_duration"):
        # A request that cannot reach one upstream (a container just stopped) tries the others.
        lines.append(f"{inner}lb_try_duration {route['lb_try_duration']}")
        lines.append(f"{inner}lb_try_interval 100ms")
    if route["streaming"]:
        # Pass each chunk on at once: server-sent events and token streams must not be buffered.
        lines.append(f"{inner}flush_interval -1")
    _render_headers(lines, inner, route["headers_up"], "header_up")
    if route.get("upstream_key"):
        # The upstream checks its own key (vLLM): it gets that one, never the client's.
        key_var = "{$HEARTH_UPSTREAM_KEY_" + route["upstream_key"].upper() + "}"
        lines.append(f"{inner}header_up Authorization {_q('Bearer ' + key_var)}")
    elif route["auth"] == "bearer":
        # The client's platform key was checked here and stays here.
        lines.append(f"{inner}header_up -Authorization")
    health = route["health"]
    if health:
        lines.append(f"{inner}health_uri {health['uri']}")
        lines.append(f"{inner}health_interval {health['interval']}")
        lines.append(f"{inner}health_timeout {health['timeout']}")
        lines.append(f"{inner}health_status {health['status']}")
    timeouts = route["timeouts"]
    lines.append(f"{inner}transport http {{")
    if route["upstreams"] and route["upstreams"][0].startswith("https://"):
        lines.append(f"{inner}\ttls")
    lines.append(f"{inner}\tdial_timeout {timeouts['dial']}")
    lines.append(f"{inner}\tresponse_header_timeout {timeouts['response_header']}")
    lines.append(f"{inner}\tread_timeout {timeouts['read']}")
    lines.append(f"{inner}\twrite_timeout {timeouts['write']}")
    lines.append(f"{inner}}}")
    lines.append(f"{indent}}}")


def _render_route(lines: list[str], route: dict[str, Any], index: int) -> None:
    path = route["path"]
    if path == "/":
        lines.append("\thandle {")
    else:
        # Match the prefix on a segment boundary: /llm/v1 and /llm/v1/..., never /llm/v10. Routes
        # arrive longest path first, and handle blocks with named matchers keep that order.
        lines.append(f"\t@hearth_route_{index} path {path} {path}/*")
        lines.append(f"\thandle @hearth_route_{index} {{")
    # route keeps the directives in the order written here: auth, limits, headers, proxy.
    lines.append("\t\troute {")
    body = "\t\t\t"
    if route["strip_prefix"] and path != "/":
        lines.append(f"{body}uri strip_prefix {path}")
    if route["auth"] == "bearer":
        lines.append(f"{body}@hearth_unauthorized not {{")
        for name in route["api_keys"]:
            lines.append(f"{body}\theader Authorization {_q('Bearer {$HEARTH_API_KEY_' + name.upper() + '}')}")
        lines.append(f"{body}}}")
        lines.append(f"{body}header @hearth_unauthorized WWW-Authenticate Bearer")
        lines.append(f"{body}respond @hearth_unauthorized {_q('unauthorized')} 401")
    elif route["auth"] == "basic":
        lines.append(f"{body}basicauth {{")
        for user in route["basic_auth"]:
            lines.append(f"{body}\t{user['user']} {user['password_hash']}")
        lines.append(f"{body}}}")
    if route["max_body_size"] not in (None, "0"):
        lines.append(f"{body}request_body {{")
        lines.append(f"{body}\tmax_size {route['max_body_size']}")
        lines.append(f"{body}}}")
    _render_headers(lines, body, route["headers"], "header")
    if route["respond"] is not None:
        lines.append(f"{body}respond {_q(route['respond']['body'])} {route['respond']['status']}")
    else:
        _render_proxy(lines, body, route)
    lines.append("\t\t}")
    lines.append("\t}")


def caddy_caddyfile(sites: list[dict[str, Any]]) -> str:
    """Render normalised sites (from caddy_sites) as Caddyfile site blocks."""
    lines: list[str] = []
    for site in sites:
        lines.append(f"# site: {site['name']}")
        lines.append(f"{', '.join(site['hosts'])} {{")
        lines.append("\theader {")
        _render_headers(lines, "\t\t", site["headers"])
        lines.append("\t}")
        lines.append("\tlog")
        for line in site["extra"].splitlines():
            lines.append(f"\t{line}" if line.strip() else "")
        for index, route in enumerate(site["routes"]):
            _render_route(lines, route, index)
        if all(route["path"] != "/" for route in site["routes"]):
            lines.append("\thandle {")
            lines.append(f"\t\trespond {_q('not found')} 404")
            lines.append("\t}")
        lines.append("}")
        lines.append("")
    return "\n".join(lines)


class FilterModule:
    """Caddy site filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "caddy_sites": caddy_sites,
            "caddy_merge_sites": caddy_merge_sites,
            "caddy_caddyfile": caddy_caddyfile,
            "caddy_api_key_env": caddy_api_key_env,
            "caddy_api_key_problems": caddy_api_key_problems,
            "caddy_upstream_key_env": caddy_upstream_key_env,
            "caddy_upstream_key_problems": caddy_upstream_key_problems,
        }
