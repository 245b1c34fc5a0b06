"""The platform wiring filters: offers are checked by name, consumers derive ports, sites and checks.

These are the pure parts of roles/hearth, roles/firewall and roles/caddy's collection step;
the platform molecule scenario runs the same path on a converged host.
"""
from __future__ import annotations

import re

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hearth.platform.plugins.filter.platform import (
    hearth_caddy_sites,
    hearth_checked_networks,
    hearth_checks,
    hearth_host_ports,
    hearth_offer,
    hearth_offer_hosts,
    hearth_upstream_keys,
)

LLM_SITE = {
    "name": "api",
    "routes": [{"path": "/v1", "port": "11434", "auth": "bearer", "streaming": True}],
}


def llm_offer(listen: list[str]) -> dict:
    return hearth_offer({
        "name": "llm",
        "ports": [{"port": "11434", "reach": "private"}],
        "listen": listen,
        "sites": [LLM_SITE],
        "checks": [{"site": "api", "path": "/llm/v1/models", "auth": "bearer"}],
    }, "ollama_offer")


def test_offer_is_normalised_from_templated_strings() -> None:
    offer = llm_offer(["10.0.0.5"])
    assert offer["ports"] == [{"port": 11434, "proto": "tcp", "reach": "private", "description": ""}]
    assert offer["sites"][0]["label"] == "api"
    assert offer["sites"][0]["routes"][0]["port"] == 11434
    assert offer["checks"][0]["status"] == [200]


@pytest.mark.parametrize("offer, message", [
    ({"name": "x", "ports": [{"port": 70000}]}, "minio_offer.ports[0].port: expected a port number"),
    ({"name": "x", "ports": [{"port": 1, "reach": "world"}]}, "minio_offer.ports[0].reach"),
    ({"name": "x", "ports": [{"port": 1}], "sites": [{"name": "s", "routes": [{"path": "/", "port": 2}]}]},
     "minio_offer.sites[0].routes[0].port: 2 is not among the offer's ports"),
    ({"name": "x", "ports": [{"port": 1}], "checks": [{"site": "nope"}]}, "minio_offer.checks[0].site"),
    ({"name": "x", "colour": "red"}, "minio_offer: unknown key(s) colour"),
    ({"name": "Bad Name"}, "minio_offer.name"),
    ({"name": "x", "ports": [{"port": 1}], "listen": ["not-an-ip"]}, "minio_offer.listen[0]"),
    ({"name": "x", "connection": {"secrets": ["Not A Name"]}}, "minio_offer.connection.secrets[0]"),
])
def test_bad_offers_name_the_variable_and_the_path(offer: dict, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        hearth_offer(offer, "minio_offer")


def test_offer_hosts_are_the_publishers_by_name_and_bad_input_names_the_variable() -> None:
    platform = {"web-2": {"caddy": {}}, "data-1": {"postgres": {}}, "edge-1": {"caddy": {}}, "gone": None}
    assert hearth_offer_hosts(platform, "caddy") == ["edge-1", "web-2"]
    assert hearth_offer_hosts(platform, "journal-remote") == []
    with pytest.raises(AnsibleFilterError, match="hearth_platform: expected"):
        hearth_offer_hosts([], "caddy")
    with pytest.raises(AnsibleFilterError, match="offer name"):
        hearth_offer_hosts(platform, "Not A Name!")


def test_host_ports_split_by_reach_and_protocol() -> None:
    offers = {
        "ssh": hearth_offer({"name": "ssh", "ports": [{"port": 22, "reach": "public"}]}),
        "caddy": hearth_offer({"name": "caddy", "ports": [
            {"port": 443, "reach": "public"}, {"port": 443, "proto": "udp", "reach": "public"},
            {"port": 2019, "reach": "local"}]}),
        "postgres": hearth_offer({"name": "postgres", "ports": [{"port": 5432, "reach": "private"}]}),
    }
    assert hearth_host_ports(offers) == {
        "public": {"tcp": [22, 443], "udp": [443]},
        "private": {"tcp": [5432], "udp": []},
    }


def test_caddy_on_the_same_host_uses_loopback() -> None:
    sites = hearth_caddy_sites({"box": {"llm": llm_offer(["127.0.0.1"])}}, "box", "lab.hearth.test")
    assert sites[0]["hosts"] == ["api.lab.hearth.test"]
    assert sites[0]["routes"][0]["upstreams"] == ["127.0.0.1:11434"]


def test_an_engine_on_an_edge_host_is_reached_where_it_listens_by_every_edge_host() -> None:
    """Two edge hosts, one also serving the LLM: both must point at an address it binds."""
    platform = {"edge-a": {"llm": llm_offer(["10.0.0.5"])}}
    for edge in ("edge-a", "edge-b"):
        sites = hearth_caddy_sites(platform, edge, "example.com")
        assert sites[0]["routes"][0]["upstreams"] == ["10.0.0.5:11434"], edge


def test_a_loopback_only_service_on_another_host_is_a_wiring_error() -> None:
    with pytest.raises(AnsibleFilterError, match="listens on loopback only.*hearth_private_ip for gpu-1"):
        hearth_caddy_sites({"gpu-1": {"llm": llm_offer(["127.0.0.1"])}}, "edge-1", "example.com")


def test_one_site_on_two_hosts_balances_over_both() -> None:
    platform = {"gpu-1": {"llm": llm_offer(["10.0.0.5"])}, "gpu-2": {"llm": llm_offer(["10.0.0.6"])}}
    sites = hearth_caddy_sites(platform, "edge-1", "example.com")
    assert len(sites) == 1 and len(sites[0]["routes"]) == 1
    assert sites[0]["routes"][0]["upstreams"] == ["10.0.0.5:11434", "10.0.0.6:11434"]


def test_upstream_keys_are_collected_by_name_only() -> None:
    offer = hearth_offer({"name": "llm", "ports": [{"port": 8000}], "sites": [
        {"name": "api", "routes": [{"path": "/v1", "port": 8000, "auth": "bearer", "upstream_key": "vault_vllm_api_key"}]}]})
    platform = {"gpu-1": {"llm": offer}}
    assert hearth_upstream_keys(platform) == ["vault_vllm_api_key"]
    assert hearth_caddy_sites(platform, "gpu-1", "x.test")[0]["routes"][0]["upstream_key"] == "vault_vllm_api_key"


def test_checks_carry_the_public_name() -> None:
    checks = hearth_checks({"box": {"llm": llm_offer(["127.0.0.1"])}}, "lab.hearth.test")
    assert checks == [{"site": "api", "path": "/llm/v1/models", "method": "GET", "status": [200], "auth": "bearer",
                       "body": None, "service": "llm", "host": "api.lab.hearth.test"}]


def test_networks_are_checked_strictly() -> None:
    assert hearth_checked_networks(["10.0.0.0/8"], "hearth_private_networks") == ["10.0.0.0/8"]
    with pytest.raises(AnsibleFilterError, match=r"hearth_private_networks\[0\]"):
        hearth_checked_networks(["10.0.0.1/8"], "hearth_private_networks")


def test_caddy_sends_the_engines_own_key_upstream_never_the_clients() -> None:
    """vLLM checks VLLM_API_KEY itself: Caddy must swap the client's platform key for it."""
    from ansible_collections.hearth.platform.plugins.filter.caddy import (
        caddy_caddyfile, caddy_sites, caddy_upstream_key_env, caddy_upstream_key_problems)

    offer = hearth_offer({"name": "llm", "ports": [{"port": 8000}], "sites": [
        {"name": "api", "routes": [{"path": "/v1", "port": 8000, "auth": "bearer", "upstream_key": "vault_vllm_api_key"}]}]})
    sites = caddy_sites(hearth_caddy_sites({"gpu-1": {"llm": offer}}, "gpu-1", "x.test"), ["apps"])
    text = caddy_caddyfile(sites)
    assert 'header_up Authorization "Bearer {$HEARTH_UPSTREAM_KEY_VAULT_VLLM_API_KEY}"' in text
    assert caddy_upstream_key_env({"vault_vllm_api_key": "k" * 40}) == {"HEARTH_UPSTREAM_KEY_VAULT_VLLM_API_KEY": "k" * 40}
    assert caddy_upstream_key_problems(sites, {"vault_vllm_api_key": "k" * 40}) == []
    problems = caddy_upstream_key_problems(sites, {})
    assert len(problems) == 1 and "vault_vllm_api_key" in problems[0]


def test_caddy_keeps_the_clients_key_at_the_edge_for_engines_without_one() -> None:
    from ansible_collections.hearth.platform.plugins.filter.caddy import caddy_caddyfile, caddy_sites

    sites = caddy_sites(hearth_caddy_sites({"box": {"llm": llm_offer(["127.0.0.1"])}}, "box", "x.test"), ["apps"])
    assert "header_up -Authorization" in caddy_caddyfile(sites)


def test_an_engine_on_one_of_two_edge_hosts_listens_where_the_other_edge_host_reaches_it(tmp_path) -> None:
    """The engines' own defaults: bind the private address whenever another edge host must reach it."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "hosts.yml").write_text(json.dumps({"all": {"children": {
        "edge": {"hosts": {"edge-a": {}, "edge-b": {}}},
        "inference": {"hosts": {"edge-a": {}, "gpu-1": {}}},
    }, "vars": {"ansible_connection": "local"}}}))
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{
        "hosts": "edge-a,gpu-1", "gather_facts": False,
        "tasks": [
            {"ansible.builtin.include_vars": {"file": str(root / f"roles/{role}/defaults/main.yml"), "name": role}}
            for role in ("ollama", "vllm")
        ] + [{"ansible.builtin.debug": {
            "msg": "LISTEN {{ inventory_hostname }} {{ ollama.ollama_listen_private | bool }} "
                   "{{ vllm.vllm_listen_private | bool }}"}}],
    }]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(root / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
                           str(play)], cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = sorted(line.split("LISTEN ", 1)[1].strip().strip('"') for line in proc.stdout.splitlines() if "LISTEN " in line)
    # edge-a serves the LLM and edge-b must reach it; gpu-1 is reached by both.
    assert lines == ["edge-a True True", "gpu-1 True True"], proc.stdout


def test_checks_of_one_path_with_and_without_a_key_are_both_kept() -> None:
    offer = hearth_offer({"name": "llm", "ports": [{"port": 1}], "sites": [{"name": "api", "routes": [{"path": "/", "port": 1}]}],
                          "checks": [{"site": "api", "path": "/v1", "auth": "bearer"},
                                     {"site": "api", "path": "/v1", "auth": "none", "status": 401}]})
    checks = hearth_checks({"a": {"llm": offer}, "b": {"llm": offer}}, "x.test")
    assert [(c["auth"], c["status"]) for c in checks] == [("bearer", [200]), ("none", [401])]
