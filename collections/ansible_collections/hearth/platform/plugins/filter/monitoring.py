"""Filters of the monitoring role: what Prometheus scrapes, probes and where Alertmanager sends.

Monitoring is a consumer of the platform wiring (see ``platform.py``): every role's offer lists
its metrics endpoints, and the sites and checks it publishes through Caddy. These filters turn
every host's recorded offers into Prometheus scrape jobs and blackbox probes, so no exporter's
port, host or job name is typed in the monitoring role. Errors name the variable to fix.
"""
from __future__ import annotations

import json
import re
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.hearth.platform.plugins.filter.platform import (
    LOOPBACK, _bracket, _err, _list, _mapping, _port, _upstream_address, hearth_checks,
)

JOB_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
DURATION_RE = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$")
SIZE_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)?(?:B|KB|MB|GB|TB|PB|EB)$")
RECEIVER_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
MATCHER_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*\s*(=|!=|=~|!~)\s*"?[^"]*"?$')
INTEGRATIONS = ("email", "webhook", "slack")
EXTRA_TARGET_KEYS = {"host", "port", "job", "path", "scheme"}


def monitoring_duration(value: Any, variable: str) -> str:
    """A positive Prometheus duration (``15d``, ``1h30m``); zero is refused, naming the variable."""
    text = str(value).strip()
    if not DURATION_RE.match(text) or not re.search(r"[1-9]", text):
        raise _err(variable, f"expected a positive duration such as 30s, 15d or 1h30m, got {value!r}")
    return text


def monitoring_size(value: Any, variable: str) -> str:
    """A positive storage size (``10GB``, ``512MB``) or '' for no limit by size."""
    text = str(value).strip()
    if text == "":
        return ""
    if not SIZE_RE.match(text) or float(re.sub(r"[A-Z]+$", "", text)) <= 0:
        raise _err(variable, f"expected a positive size such as 512MB or 10GB (or '' for none), got {value!r}")
    return text


def _target_address(host: str, offer: dict[str, Any], monitoring_host: str) -> str:
    try:
        return _upstream_address(host, offer, monitoring_host)
    except AnsibleFilterError as exc:
        raise AnsibleFilterError(str(exc).replace("so Caddy on", "so Prometheus on")) from None


def _host_address(host: str, monitoring_host: str, addresses: dict[str, Any], where: str, missing: str) -> str:
    """Loopback for the monitoring host itself, else the host's private address (error `missing`)."""
    if host == monitoring_host:
        return LOOPBACK
    address = addresses.get(host) or ""
    if not address:
        raise _err(where, missing)
    return address


def _add_target(jobs: dict[tuple[str, str, str], list[dict[str, Any]]], job: str, scheme: str, path: str,
                address: str, port: int, labels: dict[str, str]) -> None:
    group = jobs.setdefault((job, scheme, path), [])
    target = f"{_bracket(address)}:{port}"
    if not any(entry["targets"] == [target] for entry in group):
        group.append({"targets": [target], "labels": labels})


def _site_labels(platform: dict[str, Any], domain: str) -> list[tuple[str, str, str]]:
    """(public name, site, offering service) for every published site, for Caddy's host label."""
    seen: dict[str, tuple[str, str, str]] = {}
    for host in sorted(platform):
        for offer_name, offer in sorted(platform[host].items()):
            for site in offer.get("sites", []):
                fqdn = f"{site['label']}.{domain}"
                seen.setdefault(fqdn, (fqdn, site["name"], offer_name))
    return [seen[k] for k in sorted(seen)]


def monitoring_scrape_configs(platform: Any, monitoring_host: str, env: str, domain: str,
                              extra_targets: Any = None, addresses: Any = None,
                              front_door: str = "caddy") -> list[dict[str, Any]]:
    """Prometheus scrape_configs for every metrics endpoint every host published.

    One job per (job name, scheme, path); each target carries ``host`` (the inventory name),
    ``instance`` (``host:port``) and ``env``. A service on the monitoring host is scraped on
    loopback when it binds it, any other on an address it binds other than loopback; a remote
    endpoint bound to loopback only is an error naming the host (as for Caddy's upstreams).

    extra_targets (``monitoring_extra_targets``): [{host, port, job, path, scheme}] for
    endpoints no role publishes; host must be an inventory host with an address in
    ``addresses`` ({host: private address}) unless it is the monitoring host.
    """
    platform = _mapping("hearth_platform", platform or {})
    addresses = _mapping("addresses", addresses or {})
    jobs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for host in sorted(platform):
        for offer_name, offer in sorted(_mapping(f"hearth_platform.{host}", platform[host]).items()):
            for entry in offer.get("metrics", []):
                job = entry.get("job") or offer_name
                address = _target_address(host, offer, monitoring_host)
                _add_target(jobs, job, entry.get("scheme", "http"), entry.get("path", "/metrics"), address,
                            entry["port"], {"host": host, "instance": f"{host}:{entry['port']}", "env": env})
    for index, entry in enumerate(_list("monitoring_extra_targets", extra_targets)):
        where = f"monitoring_extra_targets[{index}]"
        entry = _mapping(where, entry)
        unknown = sorted(set(entry) - EXTRA_TARGET_KEYS)
        if unknown:
            raise _err(where, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(EXTRA_TARGET_KEYS))}")
        host = entry.get("host")
        if host != monitoring_host and host not in addresses:
            raise _err(f"{where}.host", f"{host!r} is not a host of this inventory "
                       f"(known: {', '.join(sorted(set(addresses) | {monitoring_host}))})")
        address = _host_address(host, monitoring_host, addresses, f"{where}.host",
                                f"host {host} has no hearth_private_ip for Prometheus on {monitoring_host} to reach")
        job = entry.get("job")
        if not isinstance(job, str) or not JOB_RE.match(job):
            raise _err(f"{where}.job", f"expected a job name matching {JOB_RE.pattern}, got {job!r}")
        port = _port(f"{where}.port", entry.get("port"))
        scheme = entry.get("scheme", "http")
        if scheme not in ("http", "https"):
            raise _err(f"{where}.scheme", f"expected http or https, got {scheme!r}")
        path = entry.get("path", "/metrics")
        if not isinstance(path, str) or not path.startswith("/"):
            raise _err(f"{where}.path", f"expected an absolute URL path, got {path!r}")
        _add_target(jobs, job, scheme, path, address, port, {"host": host, "instance": f"{host}:{port}", "env": env})

    sites = _site_labels(platform, domain)
    configs = []
    for (job, scheme, path), groups in sorted(jobs.items()):
        name = job if sum(1 for key in jobs if key[0] == job) == 1 else f"{job}-{scheme}-{path.strip('/').replace('/', '-')}"
        config: dict[str, Any] = {"job_name": name, "scheme": scheme, "metrics_path": path,
                                  "static_configs": groups}
        if job == front_door and sites:
            # Caddy labels request metrics with the Host header (per_host); the target's own
            # host label wins, so Caddy's arrives as exported_host. Name the site and service.
            config["metric_relabel_configs"] = [
                relabel for fqdn, site, service in sites for relabel in (
                    {"source_labels": ["exported_host"], "regex": re.escape(fqdn), "target_label": "site",
                     "replacement": site},
                    {"source_labels": ["exported_host"], "regex": re.escape(fqdn), "target_label": "service",
                     "replacement": service},
                )
            ]
        configs.append(config)
    return configs


def monitoring_probes(platform: Any, monitoring_host: str, env: str, domain: str, addresses: Any = None,
                      front_door: str = "caddy", ca_file: str = "") -> dict[str, Any]:
    """Blackbox modules and targets: every published check, through every front-door host.

    Like an ALB's target health checks, each edge host is probed on its own address with the
    public name in the Host header and TLS server name, so probes need no DNS and a dead edge
    host is seen even while another answers. Checks that need a bearer key expect the 401 Caddy
    answers without one: the probe proves the front door and its TLS, the key stays in vault.
    """
    platform = _mapping("hearth_platform", platform or {})
    addresses = _mapping("addresses", addresses or {})
    edges = [host for host in sorted(platform) if front_door in platform[host]]
    modules: dict[str, Any] = {}
    targets: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str, tuple[int, ...]]] = set()
    tls = platform[edges[0]][front_door].get("connection", {}).get("tls_mode", "acme") if edges else "acme"
    for check in hearth_checks(platform, domain):
        fqdn = check["host"]
        statuses = [401] if check["auth"] == "bearer" else check["status"]
        # A keyed check becomes the same probe as the offer's own "refused without a key" check.
        if (fqdn, check["path"], check["method"], tuple(statuses)) in seen:
            continue
        seen.add((fqdn, check["path"], check["method"], tuple(statuses)))
        module_name = re.sub(r"[^a-z0-9_]", "_", f"{check['service']}_{fqdn.split('.')[0]}_{check['method']}"
                             f"_{check['path']}_{'_'.join(str(s) for s in statuses)}".lower())
        http: dict[str, Any] = {
            "method": check["method"], "valid_status_codes": statuses, "preferred_ip_protocol": "ip4",
            "headers": {"Host": fqdn}, "fail_if_not_ssl": True,
            "tls_config": {"server_name": fqdn, **({"ca_file": ca_file} if tls == "internal" and ca_file else {})},
        }
        if check.get("body") is not None:
            http["body"] = check["body"] if isinstance(check["body"], str) else json.dumps(check["body"])
            http["headers"]["Content-Type"] = "application/json"
        modules[module_name] = {"prober": "http", "timeout": "10s", "http": http}
        for edge in edges:
            address = _host_address(edge, monitoring_host, addresses, f"hostvars[{edge}].hearth_private_ip",
                                    f"edge host {edge} has no private address for the probes from {monitoring_host}")
            targets.append({
                "targets": [f"https://{_bracket(address)}{check['path']}"],
                "labels": {"__param_module": module_name, "instance": f"https://{fqdn}{check['path']}",
                           "host": edge, "site": fqdn.split(".")[0], "service": check["service"],
                           "tls": "internal" if tls == "internal" else "acme", "env": env},
            })
    return {"modules": modules, "targets": targets}


def monitoring_alertmanager_routes(receivers: Any, routes: Any, default_receiver: Any) -> dict[str, Any]:
    """Check receivers and routes and return the Alertmanager ``route`` and ``receivers`` blocks.

    Receivers: [{name, email: {to}, webhook: {url}, slack: {api_url, channel}}] (secrets are
    values from vault; the rendered file is written without diff). Routes: [{receiver,
    matchers: ['severity="page"'], continue}]. A route naming no known receiver is refused.
    """
    checked: list[dict[str, Any]] = []
    names: list[str] = []
    for index, entry in enumerate(_list("monitoring_alert_receivers", receivers)):
        where = f"monitoring_alert_receivers[{index}]"
        entry = _mapping(where, entry)
        name = entry.get("name")
        if not isinstance(name, str) or not RECEIVER_RE.match(name):
            raise _err(f"{where}.name", f"expected a receiver name matching {RECEIVER_RE.pattern}, got {name!r}")
        if name in names:
            raise _err(f"{where}.name", f"receiver {name!r} is defined twice")
        unknown = sorted(set(entry) - {"name", *INTEGRATIONS})
        if unknown:
            raise _err(where, f"unknown key(s) {', '.join(unknown)}; allowed: name, {', '.join(INTEGRATIONS)}")
        receiver: dict[str, Any] = {"name": name}
        if "email" in entry:
            email = _mapping(f"{where}.email", entry["email"])
            if not isinstance(email.get("to"), str) or "@" not in email["to"]:
                raise _err(f"{where}.email.to", f"expected an e-mail address, got {email.get('to')!r}")
            receiver["email_configs"] = [{"to": email["to"], "send_resolved": bool(email.get("send_resolved", True))}]
        if "webhook" in entry:
            hook = _mapping(f"{where}.webhook", entry["webhook"])
            if not isinstance(hook.get("url"), str) or not re.match(r"^https?://", hook["url"]):
                raise _err(f"{where}.webhook.url", "expected an http(s):// URL")
            receiver["webhook_configs"] = [{"url": hook["url"], "send_resolved": bool(hook.get("send_resolved", True)),
                                            "max_alerts": int(hook.get("max_alerts", 0))}]
        if "slack" in entry:
            slack = _mapping(f"{where}.slack", entry["slack"])
            if not isinstance(slack.get("api_url"), str) or not slack["api_url"].startswith("https://"):
                raise _err(f"{where}.slack.api_url", "expected the https:// incoming-webhook URL (from vault)")
            receiver["slack_configs"] = [{"api_url": slack["api_url"], "channel": str(slack.get("channel", "#alerts")),
                                          "send_resolved": bool(slack.get("send_resolved", True)),
                                          "title": '{{ template "slack.default.title" . }}'}]
        if len(receiver) == 1:
            raise _err(where, f"receiver {name!r} has no integration; give it one of {', '.join(INTEGRATIONS)}")
        names.append(name)
        checked.append(receiver)
    if not checked:
        # Alertmanager needs a receiver; with none configured alerts are kept in its UI only.
        checked.append({"name": "none"})
        names.append("none")
    default = default_receiver or names[0]
    if default not in names:
        raise _err("monitoring_alert_default_receiver", f"{default!r} is not one of the receivers {names}")
    subroutes = []
    for index, entry in enumerate(_list("monitoring_alert_routes", routes)):
        where = f"monitoring_alert_routes[{index}]"
        entry = _mapping(where, entry)
        receiver = entry.get("receiver")
        if receiver is None:
            raise _err(f"{where}.receiver", f"every route needs a receiver, one of {names}")
        if receiver not in names:
            raise _err(f"{where}.receiver", f"{receiver!r} is not one of the receivers {names}")
        matchers = [str(m) for m in _list(f"{where}.matchers", entry.get("matchers"))]
        for position, matcher in enumerate(matchers):
            if not MATCHER_RE.match(matcher):
                raise _err(f"{where}.matchers[{position}]", f"expected label=value, label=~regex, ...; got {matcher!r}")
        route: dict[str, Any] = {"receiver": receiver, "matchers": matchers}
        if entry.get("continue"):
            route["continue"] = True
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if key in entry:
                route[key] = monitoring_duration(entry[key], f"{where}.{key}")
        subroutes.append(route)
    return {"receivers": checked, "default_receiver": default, "routes": subroutes}


class FilterModule:
    """Monitoring filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "monitoring_scrape_configs": monitoring_scrape_configs,
            "monitoring_probes": monitoring_probes,
            "monitoring_alertmanager_routes": monitoring_alertmanager_routes,
            "monitoring_duration": monitoring_duration,
            "monitoring_size": monitoring_size,
        }
