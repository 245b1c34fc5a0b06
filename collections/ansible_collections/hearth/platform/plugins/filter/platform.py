"""Filters of the platform wiring: roles publish what they offer, the platform connects them.

Every service role describes, in one variable of its own (``<role>_offer``), what it offers the
rest of the platform: the ports it listens on and who may reach them, the addresses it binds,
its Caddy sites, its metrics endpoints, the facts a client needs to connect and the checks that
prove it answers. The ``hearth`` role checks that description with :func:`hearth_offer` and
records it per host as ``hearth_offers``. Consumers then read those records:

* the host firewall opens each host's published ports (:func:`hearth_host_ports`);
* Caddy builds its sites and upstreams from every host's offers (:func:`hearth_caddy_sites`);
* smoke checks and monitoring read the checks and metrics (:func:`hearth_checks`).

No consumer knows any service's port or host group: they only know this schema. Offers carry
the *names* of secrets (the vault variables every host of an environment can read), never
their values, because they are written to the host as a local fact.
"""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from typing import Any, Iterator

from ansible.errors import AnsibleFilterError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SECRET_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,127}$")
PATH_RE = re.compile(r"^/[A-Za-z0-9._~/-]*$")
REACHES = ("public", "private", "local")
PROTOCOLS = ("tcp", "udp")
CHECK_AUTH = ("none", "bearer")

OFFER_KEYS = {"name", "ports", "listen", "sites", "metrics", "connection", "checks"}
PORT_KEYS = {"port", "proto", "reach", "description"}
SITE_KEYS = {"name", "label", "routes", "headers", "max_body_size", "extra"}
# Route keys passed on to the caddy role as they are (see the caddy filters for their schema).
CADDY_ROUTE_KEYS = {
    "path", "strip_prefix", "auth", "api_keys", "basic_auth", "max_body_size", "streaming",
    "timeouts", "health", "headers", "headers_up", "lb_policy", "respond", "upstreams_import",
    "lb_try_duration",
}
# upstream_key: the secret Caddy sends upstream; basic_auth_from: {user, secret}, a login whose
# password Caddy reads from the named secret and hashes itself (offers carry names, not values).
ROUTE_KEYS = CADDY_ROUTE_KEYS | {"port", "upstream_key", "basic_auth_from"}
METRIC_KEYS = {"port", "path", "scheme", "job"}
CHECK_KEYS = {"site", "path", "method", "status", "auth", "body"}
LOOPBACK = "127.0.0.1"


def _err(where: str, message: str) -> AnsibleFilterError:
    return AnsibleFilterError(f"{where}: {message}")


def _mapping(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _err(where, f"expected a mapping, got {type(value).__name__} {value!r}")
    return dict(value)


def _list(where: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple)):
        raise _err(where, f"expected a list, got {type(value).__name__} {value!r}")
    return list(value)


def _keys(where: str, value: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _err(where, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _port(where: str, value: Any) -> int:
    """A TCP/UDP port; accepts the strings that templated role defaults produce."""
    try:
        port = int(str(value).strip())
    except (TypeError, ValueError):
        raise _err(where, f"expected a port number from 1 to 65535, got {value!r}") from None
    if not 1 <= port <= 65535 or isinstance(value, bool):
        raise _err(where, f"expected a port number from 1 to 65535, got {value!r}")
    return port


def _name(where: str, value: Any, pattern: re.Pattern[str] = NAME_RE) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise _err(where, f"expected a name matching {pattern.pattern}, got {value!r}")
    return value


def _address(where: str, value: Any) -> str:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise _err(where, f"expected an IP address, got {value!r}") from None


def _entries(where: str, value: Any, allowed: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each entry of a list of mappings with its path (`where[i]`), its keys checked."""
    for index, entry in enumerate(_list(where, value)):
        at = f"{where}[{index}]"
        entry = _mapping(at, entry)
        _keys(at, entry, allowed)
        yield at, entry


def _offer_port(where: str, value: Any, port_numbers: set[int]) -> int:
    """A port that must be one the offer lists among its ports."""
    port = _port(where, value)
    if port not in port_numbers:
        raise _err(where, f"{port} is not among the offer's ports {sorted(port_numbers)}")
    return port


def _path(where: str, value: Any) -> str:
    if not isinstance(value, str) or not PATH_RE.match(value):
        raise _err(where, f"expected an absolute URL path, got {value!r}")
    return value


def _ports(where: str, value: Any) -> list[dict[str, Any]]:
    ports = []
    for at, entry in _entries(where, value, PORT_KEYS):
        if "port" not in entry:
            raise _err(at, "needs a port")
        proto = entry.get("proto", "tcp")
        reach = entry.get("reach", "private")
        if proto not in PROTOCOLS:
            raise _err(f"{at}.proto", f"expected one of {', '.join(PROTOCOLS)}, got {proto!r}")
        if reach not in REACHES:
            raise _err(f"{at}.reach", f"expected one of {', '.join(REACHES)}, got {reach!r}")
        ports.append({"port": _port(f"{at}.port", entry["port"]), "proto": proto, "reach": reach,
                      "description": str(entry.get("description", ""))})
    return ports


def _route(where: str, value: Any, port_numbers: set[int]) -> dict[str, Any]:
    route = _mapping(where, value)
    _keys(where, route, ROUTE_KEYS)
    if "respond" not in route and "upstreams_import" not in route:
        if "port" not in route:
            raise _err(where, "needs the port it proxies to (or respond, or upstreams_import)")
        route["port"] = _offer_port(f"{where}.port", route["port"], port_numbers)
    if route.get("upstream_key") is not None:
        route["upstream_key"] = _name(f"{where}.upstream_key", route["upstream_key"], SECRET_NAME_RE)
    if route.get("basic_auth_from") is not None:
        login = _mapping(f"{where}.basic_auth_from", route["basic_auth_from"])
        _keys(f"{where}.basic_auth_from", login, {"user", "secret"})
        if route.get("auth", "basic") != "basic" or "basic_auth" in route:
            raise _err(f"{where}.basic_auth_from", "only with auth: basic and without basic_auth")
        route["auth"] = "basic"
        route["basic_auth_from"] = {
            "user": _name(f"{where}.basic_auth_from.user", login.get("user")),
            "secret": _name(f"{where}.basic_auth_from.secret", login.get("secret"), SECRET_NAME_RE),
        }
    return route


def _sites(where: str, value: Any, port_numbers: set[int]) -> list[dict[str, Any]]:
    sites = []
    for at, site in _entries(where, value, SITE_KEYS):
        site["name"] = _name(f"{at}.name", site.get("name"))
        site["label"] = _name(f"{at}.label", site.get("label", site["name"]), LABEL_RE)
        routes = _list(f"{at}.routes", site.get("routes"))
        if not routes:
            raise _err(f"{at}.routes", "expected at least one route")
        site["routes"] = [_route(f"{at}.routes[{i}]", r, port_numbers) for i, r in enumerate(routes)]
        sites.append(site)
    return sites


def _metrics(where: str, value: Any, port_numbers: set[int]) -> list[dict[str, Any]]:
    metrics = []
    for at, entry in _entries(where, value, METRIC_KEYS):
        port = _offer_port(f"{at}.port", entry.get("port"), port_numbers)
        path = _path(f"{at}.path", entry.get("path", "/metrics"))
        scheme = entry.get("scheme", "http")
        if scheme not in ("http", "https"):
            raise _err(f"{at}.scheme", f"expected http or https, got {scheme!r}")
        metrics.append({"port": port, "path": path, "scheme": scheme, "job": str(entry.get("job", ""))})
    return metrics


def _checks(where: str, value: Any, site_names: set[str]) -> list[dict[str, Any]]:
    checks = []
    for at, entry in _entries(where, value, CHECK_KEYS):
        site = entry.get("site")
        if site not in site_names:
            raise _err(f"{at}.site", f"expected one of the offer's sites {sorted(site_names)}, got {site!r}")
        path = _path(f"{at}.path", entry.get("path", "/"))
        auth = entry.get("auth", "none")
        if auth not in CHECK_AUTH:
            raise _err(f"{at}.auth", f"expected one of {', '.join(CHECK_AUTH)}, got {auth!r}")
        statuses = entry.get("status", [200])
        statuses = statuses if isinstance(statuses, (list, tuple)) else [statuses]
        checks.append({"site": site, "path": path, "method": str(entry.get("method", "GET")).upper(),
                       "status": [int(s) for s in statuses], "auth": auth, "body": entry.get("body")})
    return checks


def _connection(where: str, value: Any) -> dict[str, Any]:
    connection = _mapping(where, value or {})
    for key, item in connection.items():
        if key == "secrets":
            for index, secret in enumerate(_list(f"{where}.secrets", item)):
                _name(f"{where}.secrets[{index}]", secret, SECRET_NAME_RE)
        elif isinstance(item, (dict, list, tuple)):
            raise _err(f"{where}.{key}", "expected a scalar; connection facts are flat")
    return connection


def hearth_offer(offer: Any, variable: str = "offer") -> dict[str, Any]:
    """Check one role's offer and return it normalised (ports as integers, defaults filled in).

    variable: the name of the role variable that holds the offer, so an error says which
    inventory value or role default to fix (``minio_offer.sites[0].routes[0].port: ...``).
    """
    offer = _mapping(variable, offer)
    _keys(variable, offer, OFFER_KEYS)
    name = _name(f"{variable}.name", offer.get("name"))
    ports = _ports(f"{variable}.ports", offer.get("ports"))
    port_numbers = {p["port"] for p in ports}
    listen = [_address(f"{variable}.listen[{i}]", a) for i, a in enumerate(_list(f"{variable}.listen", offer.get("listen")))]
    if ports and not listen:
        listen = [LOOPBACK]
    sites = _sites(f"{variable}.sites", offer.get("sites"), port_numbers)
    return {
        "name": name,
        "ports": ports,
        "listen": listen,
        "sites": sites,
        "metrics": _metrics(f"{variable}.metrics", offer.get("metrics"), port_numbers),
        "connection": _connection(f"{variable}.connection", offer.get("connection")),
        "checks": _checks(f"{variable}.checks", offer.get("checks"), {s["name"] for s in sites}),
    }


def hearth_offer_hosts(platform: Any, name: Any) -> list[str]:
    """The hosts, by name, that publish the offer `name` in the collected ``hearth_platform``.

    Roles that consume another role's offer (the journal receiver, the front door) take the
    first; one function keeps "which host offers X" the same question everywhere.
    """
    if not isinstance(platform, dict):
        raise _err("hearth_platform", "expected {host: {offer name: offer}}; run the hearth role's collect first")
    offer = _name("offer name", name)
    return [host for host in sorted(platform) if isinstance(platform[host], dict) and offer in platform[host]]


def hearth_host_ports(offers: Any) -> dict[str, dict[str, list[int]]]:
    """Ports one host's offers ask the firewall to open: {public|private: {tcp|udp: [ports]}}.

    ``local`` ports are only reachable on loopback, which the firewall always accepts.
    """
    result: dict[str, dict[str, list[int]]] = {r: {p: [] for p in PROTOCOLS} for r in ("public", "private")}
    for name, offer in sorted(_mapping("hearth_offers", offers or {}).items()):
        for entry in _ports(f"hearth_offers.{name}.ports", offer.get("ports")):
            if entry["reach"] == "local":
                continue
            bucket = result[entry["reach"]][entry["proto"]]
            if entry["port"] not in bucket:
                bucket.append(entry["port"])
    for reach in result.values():
        for proto in reach:
            reach[proto].sort()
    # A port open to everyone needs no second rule for the private networks.
    for proto in PROTOCOLS:
        result["private"][proto] = [p for p in result["private"][proto] if p not in result["public"][proto]]
    return result


def _upstream_address(host: str, offer: dict[str, Any], edge_host: str) -> str:
    """The address Caddy on edge_host uses to reach offer's service on host.

    Loopback when both run on one host and the service listens there; otherwise an address the
    service binds other than loopback. A remote service that binds loopback only cannot be
    reached: that is a wiring error, reported rather than proxied into a void.
    """
    listen = offer.get("listen") or [LOOPBACK]
    if host == edge_host and LOOPBACK in listen:
        return LOOPBACK
    others = [a for a in listen if not ipaddress.ip_address(a).is_loopback]
    if others:
        return others[0]
    if host == edge_host:
        return listen[0]
    raise AnsibleFilterError(
        f"hearth_offers.{offer['name']} on host {host} listens on loopback only ({', '.join(listen)}), "
        f"so Caddy on {edge_host} cannot reach it; set hearth_private_ip for {host} so the service "
        "also binds its private address"
    )


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def hearth_caddy_sites(platform: Any, edge_host: str, domain: str) -> list[dict[str, Any]]:
    """Caddy sites (the caddy role's schema) for every site every host published.

    platform: {host: {offer name: offer}} as the hearth role collects it. Sites with one name
    published by several hosts (two inference hosts) become one site whose routes balance over
    all of them. Routes carry ``upstream_key`` (the secret's name) for upstreams that check
    their own key.
    """
    platform = _mapping("hearth_platform", platform or {})
    sites: dict[str, dict[str, Any]] = {}
    for host in sorted(platform):
        for offer_name, offer in sorted(_mapping(f"hearth_platform.{host}", platform[host]).items()):
            for site in offer.get("sites", []):
                target = sites.setdefault(site["name"], {
                    "name": site["name"], "hosts": [f"{site['label']}.{domain}"], "routes": [],
                    **{k: site[k] for k in ("headers", "max_body_size", "extra") if k in site},
                })
                for route in site["routes"]:
                    existing = next((r for r in target["routes"] if r["path"] == route["path"]), None)
                    caddy_route = {k: v for k, v in route.items() if k in CADDY_ROUTE_KEYS}
                    for secret_key in ("upstream_key", "basic_auth_from"):
                        if route.get(secret_key):
                            caddy_route[secret_key] = route[secret_key]
                    if "port" in route:
                        address = _upstream_address(host, offer, edge_host)
                        upstream = f"{_bracket(address)}:{route['port']}"
                        if existing is not None:
                            if upstream not in existing.setdefault("upstreams", []):
                                existing["upstreams"].append(upstream)
                            continue
                        caddy_route["upstreams"] = [upstream]
                    elif existing is not None:
                        continue
                    target["routes"].append(caddy_route)
    return [sites[name] for name in sorted(sites)]


def _route_secret_names(platform: Any, key: str, pick: Any) -> list[str]:
    """Secret names that published routes carry under `key` (pick turns the value into a name)."""
    names: list[str] = []
    for host, offers in sorted(_mapping("hearth_platform", platform or {}).items()):
        for offer in offers.values():
            for site in offer.get("sites", []):
                for route in site["routes"]:
                    name = pick(route[key]) if route.get(key) else None
                    if name and name not in names:
                        names.append(name)
    return names


def hearth_upstream_keys(platform: Any) -> list[str]:
    """Names of the secrets that published routes send upstream (services checking their own key)."""
    return _route_secret_names(platform, "upstream_key", lambda value: value)


def hearth_basic_auth_secrets(platform: Any) -> list[str]:
    """Names of the secrets that hold the passwords of published basic-auth logins."""
    return _route_secret_names(platform, "basic_auth_from", lambda login: login["secret"])


def _bcrypt_salt(user: str, password: str) -> bytes:
    """A bcrypt salt derived from the login, so the same password renders the same Caddyfile.

    A random salt would rewrite the Caddyfile (and reload Caddy) on every run. Deriving it from
    a hash of the login keeps re-runs idempotent; the salt still differs per user and password.
    """
    digest = hashlib.sha256(f"hearth-caddy-basic-auth:{user}:{password}".encode()).digest()[:16]
    standard = base64.b64encode(digest).decode()[:22]
    return ("$2b$10$" + standard.translate(_BCRYPT_ALPHABET)).encode()


_BCRYPT_ALPHABET = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
)


def hearth_resolve_basic_auth(sites: Any, secrets: Any) -> list[dict[str, Any]]:
    """Turn routes' ``basic_auth_from`` into the caddy role's ``basic_auth`` (bcrypt hashes).

    secrets: {secret name: password} read on the edge host from the environment's vault. A
    missing or short password is an error naming the secret, before Caddy is touched.
    """
    secrets = _mapping("basic auth secrets", secrets or {})
    result = []
    for site in _list("sites", sites):
        site = dict(site)
        routes = []
        for route in site.get("routes", []):
            route = dict(route)
            login = route.pop("basic_auth_from", None)
            if login:
                password = secrets.get(login["secret"])
                if not isinstance(password, str) or len(password) < 12:
                    raise _err(login["secret"], f"the password of the {login['user']!r} login on site "
                               f"{site.get('name')!r} must be a string of at least 12 characters (map it from vault)")
                try:
                    import bcrypt  # pylint: disable=import-outside-toplevel
                except ImportError:
                    raise _err(login["secret"], "hashing a basic-auth password needs the Python package "
                               "bcrypt on the controller (pip install bcrypt)") from None
                hashed = bcrypt.hashpw(password.encode(), _bcrypt_salt(login["user"], password)).decode()
                route["basic_auth"] = [{"user": login["user"], "password_hash": hashed}]
            routes.append(route)
        site["routes"] = routes
        result.append(site)
    return result


def hearth_checks(platform: Any, domain: str) -> list[dict[str, Any]]:
    """Smoke checks through the front door: one per published check, with its full URL host."""
    platform = _mapping("hearth_platform", platform or {})
    checks: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str, str]] = set()
    for host in sorted(platform):
        for offer_name, offer in sorted(platform[host].items()):
            labels = {s["name"]: s["label"] for s in offer.get("sites", [])}
            for check in offer.get("checks", []):
                key = (labels[check["site"]], check["path"], check["method"], check["auth"])
                if key in seen:
                    continue
                seen.add(key)
                checks.append({**check, "service": offer_name, "host": f"{labels[check['site']]}.{domain}"})
    return checks


def hearth_checked_address(value: Any, variable: str = "address") -> str:
    """An IP address, or '' for none; the error names the variable."""
    if value in ("", None):
        return ""
    return _address(variable, value)


def hearth_checked_networks(value: Any, variable: str = "networks") -> list[str]:
    """A list of CIDR networks with no host bits set; the error names the variable and index."""
    networks = []
    for index, entry in enumerate(_list(variable, value)):
        try:
            networks.append(str(ipaddress.ip_network(str(entry).strip(), strict=True)))
        except ValueError as exc:
            raise _err(f"{variable}[{index}]", f"expected a network in CIDR notation such as 10.0.0.0/8, "
                       f"got {entry!r} ({exc})") from None
    return networks


class FilterModule:
    """Platform wiring filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "hearth_offer": hearth_offer,
            "hearth_offer_hosts": hearth_offer_hosts,
            "hearth_host_ports": hearth_host_ports,
            "hearth_caddy_sites": hearth_caddy_sites,
            "hearth_upstream_keys": hearth_upstream_keys,
            "hearth_basic_auth_secrets": hearth_basic_auth_secrets,
            "hearth_resolve_basic_auth": hearth_resolve_basic_auth,
            "hearth_checks": hearth_checks,
            "hearth_checked_address": hearth_checked_address,
            "hearth_checked_networks": hearth_checked_networks,
        }
