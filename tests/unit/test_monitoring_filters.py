"""Tests for plugins/filter/monitoring.py and the basic-auth wiring in platform.py.

Monitoring builds its scrape jobs, probes and alert routes from the platform's offers; these
tests pin what a host's offers turn into and that bad input names the variable to fix.
"""
from __future__ import annotations

from typing import Any

import bcrypt
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hearth.platform.plugins.filter.monitoring import (
    FilterModule,
    monitoring_alertmanager_routes,
    monitoring_duration,
    monitoring_probes,
    monitoring_scrape_configs,
    monitoring_size,
)
from ansible_collections.hearth.platform.plugins.filter.platform import (
    hearth_basic_auth_secrets,
    hearth_caddy_sites,
    hearth_offer,
    hearth_resolve_basic_auth,
)

PRIVATE = "10.0.0.5"


def offer(**kwargs: Any) -> dict[str, Any]:
    return hearth_offer(kwargs, f"{kwargs['name']}_offer")


def platform(single_host: bool = True) -> dict[str, dict[str, Any]]:
    """A platform like the lab's: one host with node, redis and its exporter, caddy, monitoring."""
    listen = ["127.0.0.1", PRIVATE]
    data = "h1" if single_host else "h2"
    offers: dict[str, dict[str, Any]] = {"h1": {}, data: {}} if not single_host else {"h1": {}}
    offers[data]["node-exporter"] = offer(name="node-exporter", ports=[{"port": 9100, "reach": "private"}],
                                          listen=listen, metrics=[{"port": 9100, "job": "node"}])
    offers[data]["redis-exporter"] = offer(name="redis-exporter", ports=[{"port": 9121, "reach": "private"}],
                                           listen=[PRIVATE], metrics=[{"port": 9121, "job": "redis"}])
    offers[data]["minio"] = offer(
        name="minio", ports=[{"port": 9000}], listen=[PRIVATE],
        sites=[{"name": "s3", "routes": [{"path": "/", "port": 9000}]}],
        metrics=[{"port": 9000, "path": "/minio/v2/metrics/cluster", "job": "minio"}],
        checks=[{"site": "s3", "path": "/minio/health/live"}])
    offers["h1"]["caddy"] = offer(
        name="caddy", ports=[{"port": 443, "reach": "public"}, {"port": 2019, "reach": "local"}],
        metrics=[{"port": 2019, "job": "caddy"}], connection={"tls_mode": "internal", "ca_cert": "/ca.crt"})
    offers["h1"]["ollama"] = offer(
        name="ollama", ports=[{"port": 11434}], listen=listen,
        sites=[{"name": "api", "routes": [{"path": "/llm/v1", "port": 11434}]}],
        checks=[{"site": "api", "path": "/llm/v1/models", "auth": "bearer"},
                {"site": "api", "path": "/llm/v1/models", "status": 401}])
    return offers


def test_every_metrics_endpoint_becomes_one_job_with_host_instance_and_env_labels() -> None:
    configs = monitoring_scrape_configs(platform(), "h1", "lab", "lab.hearth.test")
    by_job = {c["job_name"]: c for c in configs}
    assert sorted(by_job) == ["caddy", "minio", "node", "redis"]
    node = by_job["node"]["static_configs"][0]
    # A service on the monitoring host that binds loopback is scraped there.
    assert node == {"targets": ["127.0.0.1:9100"], "labels": {"host": "h1", "instance": "h1:9100", "env": "lab"}}
    # One that binds only the private address is scraped on it.
    assert by_job["redis"]["static_configs"][0]["targets"] == [f"{PRIVATE}:9121"]
    assert by_job["minio"]["metrics_path"] == "/minio/v2/metrics/cluster"


def test_caddy_metrics_get_the_site_and_service_of_each_public_name() -> None:
    caddy = next(c for c in monitoring_scrape_configs(platform(), "h1", "lab", "lab.hearth.test") if c["job_name"] == "caddy")
    relabels = caddy["metric_relabel_configs"]
    assert {"source_labels": ["exported_host"], "regex": r"api\.lab\.hearth\.test", "target_label": "service",
            "replacement": "ollama"} in relabels
    assert {"source_labels": ["exported_host"], "regex": r"s3\.lab\.hearth\.test", "target_label": "site",
            "replacement": "s3"} in relabels


def test_a_remote_endpoint_bound_to_loopback_only_is_an_error_naming_the_host() -> None:
    offers = platform(single_host=False)
    offers["h2"]["caddy"] = offers["h1"].pop("caddy")
    with pytest.raises(AnsibleFilterError, match=r"caddy on host h2 listens on loopback only.*Prometheus on h1"):
        monitoring_scrape_configs(offers, "h1", "lab", "lab.hearth.test")


def test_an_extra_target_on_a_host_outside_the_inventory_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match=r"monitoring_extra_targets\[0\]\.host: 'nope' is not a host"):
        monitoring_scrape_configs(platform(), "h1", "lab", "lab.hearth.test",
                                  [{"host": "nope", "port": 9999, "job": "x"}], {"h1": PRIVATE})


def test_an_extra_target_on_another_host_is_scraped_on_its_private_address() -> None:
    configs = monitoring_scrape_configs(platform(), "h1", "lab", "lab.hearth.test",
                                        [{"host": "h3", "port": 9400, "job": "dcgm"}], {"h1": PRIVATE, "h3": "10.0.0.9"})
    dcgm = next(c for c in configs if c["job_name"] == "dcgm")
    assert dcgm["static_configs"] == [{"targets": ["10.0.0.9:9400"], "labels": {"host": "h3", "instance": "h3:9400", "env": "lab"}}]


@pytest.mark.parametrize("entry, where", [
    ({"host": "h1", "port": 0, "job": "x"}, "port"),
    ({"host": "h1", "port": 1, "job": "Bad Job"}, "job"),
    ({"host": "h1", "port": 1, "job": "x", "scheme": "ftp"}, "scheme"),
    ({"host": "h1", "port": 1, "job": "x", "path": "metrics"}, "path"),
])
def test_extra_target_fields_are_checked(entry: dict[str, Any], where: str) -> None:
    with pytest.raises(AnsibleFilterError, match=rf"monitoring_extra_targets\[0\]\.{where}"):
        monitoring_scrape_configs({}, "h1", "lab", "d", [entry], {})


def test_probes_cover_every_check_through_every_front_door_with_host_header_and_ca() -> None:
    probes = monitoring_probes(platform(), "h1", "lab", "lab.hearth.test", {}, "caddy", "/etc/prometheus/ca.crt")
    targets = probes["targets"]
    assert len(targets) == 2
    s3 = next(t for t in targets if t["labels"]["site"] == "s3")
    assert s3["targets"] == ["https://127.0.0.1/minio/health/live"]
    assert s3["labels"]["instance"] == "https://s3.lab.hearth.test/minio/health/live"
    assert s3["labels"]["tls"] == "internal" and s3["labels"]["service"] == "minio"
    module = probes["modules"][s3["labels"]["__param_module"]]["http"]
    assert module["headers"]["Host"] == "s3.lab.hearth.test"
    assert module["tls_config"] == {"server_name": "s3.lab.hearth.test", "ca_file": "/etc/prometheus/ca.crt"}
    # A check behind a bearer key expects Caddy's 401: the key stays out of the probe config.
    api = next(t for t in targets if t["labels"]["site"] == "api")
    assert probes["modules"][api["labels"]["__param_module"]]["http"]["valid_status_codes"] == [401]


def test_a_remote_front_door_without_a_private_address_is_an_error() -> None:
    offers = platform(single_host=False)
    with pytest.raises(AnsibleFilterError, match=r"hostvars\[h1\]\.hearth_private_ip"):
        monitoring_probes(offers, "h2", "lab", "d", {})


def test_alert_routes_need_a_known_receiver() -> None:
    receivers = [{"name": "pager", "webhook": {"url": "http://127.0.0.1:9199/hook"}}]
    with pytest.raises(AnsibleFilterError, match=r"monitoring_alert_routes\[0\]\.receiver: every route needs a receiver"):
        monitoring_alertmanager_routes(receivers, [{"matchers": ['severity="page"']}], "")
    with pytest.raises(AnsibleFilterError, match=r"monitoring_alert_routes\[0\]\.receiver: 'mail' is not one of"):
        monitoring_alertmanager_routes(receivers, [{"receiver": "mail"}], "")
    with pytest.raises(AnsibleFilterError, match=r"monitoring_alert_default_receiver"):
        monitoring_alertmanager_routes(receivers, [], "nobody")


def test_receivers_are_checked_and_rendered() -> None:
    result = monitoring_alertmanager_routes(
        [{"name": "pager", "webhook": {"url": "https://hooks.example/x"}}, {"name": "mail", "email": {"to": "ops@example.com"}}],
        [{"receiver": "mail", "matchers": ['severity="ticket"'], "repeat_interval": "12h"}], "")
    assert result["default_receiver"] == "pager"
    assert result["receivers"][1] == {"name": "mail", "email_configs": [{"to": "ops@example.com", "send_resolved": True}]}
    assert result["routes"] == [{"receiver": "mail", "matchers": ['severity="ticket"'], "repeat_interval": "12h"}]
    for bad, where in (
        ([{"name": "x"}], r"receiver 'x' has no integration"),
        ([{"name": "x", "webhook": {"url": "ftp://x"}}], r"\[0\]\.webhook\.url"),
        ([{"name": "x", "email": {"to": "nobody"}}], r"\[0\]\.email\.to"),
        ([{"name": "x", "webhook": {"url": "http://a"}}, {"name": "x", "webhook": {"url": "http://a"}}], r"defined twice"),
        ([{"name": "x", "pagerduty": {}}], r"unknown key"),
    ):
        with pytest.raises(AnsibleFilterError, match=where):
            monitoring_alertmanager_routes(bad, [], "")


def test_no_receivers_means_a_receiver_that_keeps_alerts_in_the_ui() -> None:
    assert monitoring_alertmanager_routes([], [], "")["receivers"] == [{"name": "none"}]


@pytest.mark.parametrize("value", ["0", "0d", "0s", "", "15", "1x", -1])
def test_zero_or_malformed_durations_are_refused(value: Any) -> None:
    with pytest.raises(AnsibleFilterError, match="monitoring_retention_time: expected a positive duration"):
        monitoring_duration(value, "monitoring_retention_time")


@pytest.mark.parametrize("value", ["15d", "1h30m", "5s", "2w"])
def test_positive_durations_pass(value: str) -> None:
    assert monitoring_duration(value, "v") == value


def test_sizes() -> None:
    assert monitoring_size("8GB", "v") == "8GB" and monitoring_size("", "v") == ""
    for bad in ("0GB", "0", "8G", "ten"):
        with pytest.raises(AnsibleFilterError, match="monitoring_retention_size"):
            monitoring_size(bad, "monitoring_retention_size")


def test_basic_auth_from_a_secret_name_becomes_a_stable_bcrypt_login() -> None:
    web = offer(name="monitoring", ports=[{"port": 9090}], listen=["127.0.0.1"],
                sites=[{"name": "metrics", "routes": [{"path": "/", "port": 9090,
                                                       "basic_auth_from": {"user": "admin", "secret": "web_login"}}]}])
    assert web["sites"][0]["routes"][0]["auth"] == "basic"
    offers = {"h1": {"monitoring": web}}
    assert hearth_basic_auth_secrets(offers) == ["web_login"]
    sites = hearth_caddy_sites(offers, "h1", "d")
    first = hearth_resolve_basic_auth(sites, {"web_login": "correct horse battery"})
    again = hearth_resolve_basic_auth(sites, {"web_login": "correct horse battery"})
    login = first[0]["routes"][0]["basic_auth"][0]
    assert login["user"] == "admin" and "basic_auth_from" not in first[0]["routes"][0]
    assert bcrypt.checkpw(b"correct horse battery", login["password_hash"].encode())
    assert first == again, "the same password must render the same hash (no Caddy reload on every run)"
    other = hearth_resolve_basic_auth(sites, {"web_login": "another horse battery"})
    assert other[0]["routes"][0]["basic_auth"][0]["password_hash"] != login["password_hash"]
    with pytest.raises(AnsibleFilterError, match=r"web_login: the password of the 'admin' login"):
        hearth_resolve_basic_auth(sites, {"web_login": ""})
    with pytest.raises(AnsibleFilterError, match=r"basic_auth_from: only with auth: basic"):
        offer(name="m", ports=[{"port": 1}], sites=[{"name": "s", "routes": [
            {"path": "/", "port": 1, "auth": "bearer", "basic_auth_from": {"user": "a", "secret": "b"}}]}])


def test_the_filters_are_registered() -> None:
    assert set(FilterModule().filters()) == {
        "monitoring_scrape_configs", "monitoring_probes", "monitoring_alertmanager_routes",
        "monitoring_duration", "monitoring_size"}
