"""Filters that turn the collected platform offers into what the apps' containers connect to.

The apps role never knows a port or a host group: it reads the offers every host published
(``hearth_platform``, {host: {offer name: offer}}) and finds Postgres, Redis, the S3 API, the
LLM route and the edge (Caddy) in them. Containers cannot reach a host's loopback, so every
endpoint is an address the service binds other than 127.0.0.1; a service that binds loopback
only is a wiring error that names the host and the fix.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.hearth.platform.plugins.module_utils.app_slots import slot_port

# Where the apps role mounts the edge's private CA in every container.
CONTAINER_CA = "/etc/hearth/ca.pem"


def _offers(platform: Any) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(platform, dict):
        raise AnsibleFilterError("hearth_platform: expected {host: {offer: ...}}; run hearth : collect first")
    return [(host, platform[host]) for host in sorted(platform) if isinstance(platform[host], dict)]


def _find(platform: Any, name: str) -> tuple[str, dict[str, Any]] | None:
    """The first host (by name) that offers `name`, and its offer."""
    for host, offers in _offers(platform):
        if name in offers:
            return host, offers[name]
    return None


def _routable(host: str, offer: dict[str, Any], private_ips: dict[str, str]) -> str:
    """An address of the service that a container (or another host) can reach."""
    if any(port.get("reach") == "public" for port in offer.get("ports") or []) and private_ips.get(host):
        return private_ips[host]  # public ports (Caddy) listen on every address, the private one too
    for address in offer.get("listen") or []:
        try:
            if not ipaddress.ip_address(address).is_loopback:
                return str(address)
        except ValueError:
            continue
    raise AnsibleFilterError(
        f"hearth_offers.{offer.get('name')} on {host} listens on loopback only, so containers cannot reach "
        f"it; set hearth_private_ip for {host} so the service also binds its private address"
    )


def apps_endpoints(platform: Any, domain: str, private_ips: Any, accounts: Any) -> dict[str, Any]:
    """Endpoints for ``apps_connection_env``: postgres, redis, s3, llm and the CA (None when absent).

    accounts gives the names the platform cannot know (database, bucket); private_ips maps each
    host to its ``hearth_private_ip`` (used for Caddy, which listens on every address).
    """
    ips = private_ips if isinstance(private_ips, dict) else {}
    names = accounts if isinstance(accounts, dict) else {}
    result: dict[str, Any] = {"postgres": None, "redis": None, "s3": None, "llm": None, "ca_file": None, "hosts": {}}
    found = _find(platform, "postgres")
    if found:
        host, offer = found
        conn = offer.get("connection") or {}
        result["postgres"] = {"host": _routable(host, offer, ips), "port": conn.get("port"),
                              "database": (names.get("postgres") or {}).get("database", ""),
                              "sslmode": conn.get("sslmode", "prefer")}
    found = _find(platform, "redis")
    if found:
        host, offer = found
        conn = offer.get("connection") or {}
        result["redis"] = {"host": _routable(host, offer, ips), "port": conn.get("port"),
                           "tls": bool(conn.get("tls"))}
    found = _find(platform, "minio")
    if found:
        host, offer = found
        conn = offer.get("connection") or {}
        scheme = "https" if conn.get("tls") else "http"
        result["s3"] = {"url": f"{scheme}://{_bracket(_routable(host, offer, ips))}:{conn.get('port')}",
                        "region": conn.get("region", "us-east-1"),
                        "bucket": (names.get("s3") or {}).get("bucket", "")}
    edge = _find(platform, "caddy")
    llm = _find(platform, "llm")
    if llm and edge:
        _, offer = llm
        conn = offer.get("connection") or {}
        site = next(iter(offer.get("sites") or []), None)
        if site is None:
            raise AnsibleFilterError("hearth_offers.llm publishes no site, so apps cannot reach it through Caddy")
        name = f"{site.get('label', site.get('name'))}.{domain}"
        result["llm"] = {"base_url": f"https://{name}{conn.get('public_path', '/llm/v1')}",
                         "model": conn.get("model", "")}
        edge_host, edge_offer = edge
        result["hosts"][name] = _routable(edge_host, edge_offer, ips)
    if edge and (edge[1].get("connection") or {}).get("ca_cert"):
        result["ca_file"] = CONTAINER_CA
        result["ca_source"] = {"host": edge[0], "path": edge[1]["connection"]["ca_cert"]}
    return result


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def apps_edge_hosts(platform: Any) -> list[str]:
    """Hosts that run Caddy (they get the upstream files of web services)."""
    return [host for host, offers in _offers(platform) if "caddy" in offers]


def apps_upstream_lines(ports: Any, addresses: Any) -> str:
    """The `to host:port` lines Caddy imports for one host's replicas of a web service."""
    lines = [f"to {_bracket(str(address))}:{int(port)}" for port in ports or [] for address in addresses[:1]]
    return "\n".join(lines) + "\n"


def apps_offer(services: Any, bind: Any, upstream_dir: str) -> dict[str, Any]:
    """The apps role's offer: one Caddy site per web service, and no ports of its own.

    Docker publishes the containers' ports by DNAT, which the firewall's input rules never see:
    its forward chain holds them to the private networks whatever the offers say, so the offer
    lists none (listing them would only change the input table between the first and second
    converge). Each site's route imports ``<upstream_dir>/<service>/*.caddy``, the files deploys rewrite on
    the edge hosts (one per apps host), so Caddy balances over every host's current release and
    a switch is a graceful reload. Health checks keep a failing host out of the rotation.
    """
    services = services or []
    listen = [str(a) for a in bind or ["127.0.0.1"]]
    sites: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    for service in services:
        if not service.get("host_port"):
            continue
        if service.get("kind") != "web":
            continue
        health = service.get("health") or {}
        route: dict[str, Any] = {
            "path": "/", "upstreams_import": f"{upstream_dir}/{service['name']}/*.caddy",
            "lb_policy": "round_robin", "lb_try_duration": "10s",
        }
        if health.get("type") == "http":
            route["health"] = {"uri": health["path"], "interval": "2s", "timeout": f"{int(health.get('timeout') or 2)}s"}
            checks.append({"site": service["name"], "path": health["path"], "status": 200})
        sites.append({"name": service["name"], "label": service.get("site") or service["name"], "routes": [route]})
    return {"name": "apps", "ports": [], "listen": listen, "sites": sites, "checks": checks}


def apps_slot_ports(slot: Any, service: dict[str, Any]) -> list[int]:
    """Host ports of a service's replicas in slot a or b (none for an empty slot)."""
    if slot not in ("a", "b") or not service.get("host_port"):
        return []
    return [slot_port(service, slot, replica) for replica in range(int(service.get("replicas") or 1))]


def apps_ordered(services: Any, order: Any) -> list[dict[str, Any]]:
    """Services in deploy order: by kind (migrations first, web last), then by name."""
    rank = {kind: index for index, kind in enumerate(order or [])}
    return sorted(services or [], key=lambda s: (rank.get(s.get("kind"), len(rank)), s.get("name", "")))


def apps_scheduler_host(declared: Any) -> str:
    """The one host that runs schedulers: the first, by name, whose apps_services declares one.

    declared: {host: apps_services}. Independent of --limit and serial batches, so two hosts
    never both run a scheduler.
    """
    for host in sorted(declared or {}):
        services = declared[host] or []
        if isinstance(services, list) and any(isinstance(s, dict) and s.get("kind") == "scheduler" for s in services):
            return host
    return ""


def _entry(items: Any, key: str, value: str, field: str, variable: str) -> str:
    for item in items or []:
        if isinstance(item, dict) and item.get(key) == value:
            secret = item.get(field)
            if secret:
                return str(secret)
    raise AnsibleFilterError(f"{variable} has no entry with {key} {value!r} (and a {field}); the apps use that account")


def apps_accounts(wanted: Any, names: dict[str, str], sources: dict[str, Any]) -> dict[str, Any]:
    """Credentials of the accounts the apps use, read from the data roles' own variables.

    wanted: the platform groups any service injects; names: the apps_* account names; sources:
    postgres_roles, redis_users, minio_users and caddy_api_keys as the inventory sets them.
    """
    wanted = set(wanted or [])
    accounts: dict[str, Any] = {}
    if "postgres" in wanted:
        user = names["postgres_user"]
        accounts["postgres"] = {"user": user, "password": _entry(
            sources.get("postgres_roles"), "name", user, "password", "postgres_roles (apps_postgres_user)")}
    if "redis" in wanted:
        user = names["redis_user"]
        accounts["redis"] = {"user": user, "password": _entry(
            sources.get("redis_users"), "name", user, "password", "redis_users (apps_redis_user)"), "db": 0}
    if "s3" in wanted:
        key = names["s3_access_key"]
        accounts["s3"] = {"access_key": key, "secret_key": _entry(
            sources.get("minio_users"), "access_key", key, "secret_key", "minio_users (apps_s3_access_key)")}
    if "llm" in wanted:
        name = names["llm_key_name"]
        accounts["llm"] = {"key": _entry(sources.get("caddy_api_keys"), "name", name, "key",
                                         "caddy_api_keys (apps_llm_key_name)")}
    return accounts


class FilterModule:
    """Platform endpoints for the apps role."""

    def filters(self) -> dict[str, Any]:
        return {
            "apps_endpoints": apps_endpoints,
            "apps_edge_hosts": apps_edge_hosts,
            "apps_upstream_lines": apps_upstream_lines,
            "apps_offer": apps_offer,
            "apps_ordered": apps_ordered,
            "apps_slot_ports": apps_slot_ports,
            "apps_scheduler_host": apps_scheduler_host,
            "apps_accounts": apps_accounts,
        }
