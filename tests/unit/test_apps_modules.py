"""The apps role's pure parts: image references, registry auth, slots, records, platform endpoints."""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hearth.platform.plugins.filter.apps import apps_services_checked
from ansible_collections.hearth.platform.plugins.filter.apps_platform import (
    apps_accounts,
    apps_edge_hosts,
    apps_endpoints,
    apps_offer,
    apps_ordered,
    apps_scheduler_host,
    apps_slot_ports,
    apps_upstream_lines,
)
from ansible_collections.hearth.platform.plugins.filter.caddy import caddy_caddyfile, caddy_sites
from ansible_collections.hearth.platform.plugins.filter.platform import hearth_caddy_sites, hearth_offer
from ansible_collections.hearth.platform.plugins.modules.app_image import (
    basic_credentials,
    registry_scheme,
    split_reference,
)
from ansible_collections.hearth.platform.plugins.modules.app_release import (
    config_hash,
    kept_images,
    other_slot,
    prune_plan,
    read_record,
    run_args,
    slot_port,
    write_record,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("image", "expected"), [
    ("ghcr.io/acme/web:1.2", ("ghcr.io", "acme/web", "ghcr.io/acme/web", "1.2", None)),
    (f"ghcr.io/acme/web@{DIGEST}", ("ghcr.io", "acme/web", "ghcr.io/acme/web", None, DIGEST)),
    (f"ghcr.io/acme/web:1.2@{DIGEST}", ("ghcr.io", "acme/web", "ghcr.io/acme/web", "1.2", DIGEST)),
    ("localhost:5000/hearth/refapp:1", ("localhost:5000", "hearth/refapp", "localhost:5000/hearth/refapp", "1", None)),
    ("localhost:5000/refapp", ("localhost:5000", "refapp", "localhost:5000/refapp", None, None)),
    ("redis:7", ("registry-1.docker.io", "library/redis", "redis", "7", None)),
    ("acme/web:2", ("registry-1.docker.io", "acme/web", "acme/web", "2", None)),
])
def test_references_split_the_way_docker_reads_them(image: str, expected: tuple[Any, ...]) -> None:
    assert split_reference(image) == expected


def test_loopback_and_listed_registries_use_plain_http() -> None:
    assert registry_scheme("localhost:5000", []) == "http"
    assert registry_scheme("127.0.0.1:5000", []) == "http"
    assert registry_scheme("ghcr.io", []) == "https"
    assert registry_scheme("registry.lan:5000", ["registry.lan:5000"]) == "http"


def test_credentials_come_from_the_engine_config() -> None:
    token = base64.b64encode(b"bot:ghp_x").decode()
    assert basic_credentials({"auths": {"ghcr.io": {"auth": token}}}, "ghcr.io") == token
    assert basic_credentials({"auths": {"https://ghcr.io": {"username": "bot", "password": "ghp_x"}}},
                             "ghcr.io") == token
    assert basic_credentials({"auths": {}}, "ghcr.io") is None


def service(**extra: Any) -> dict[str, Any]:
    spec = {"name": "web", "kind": "web", "image": "ghcr.io/acme/web:1", "port": 8000, "host_port": 18000}
    spec.update(extra)
    return apps_services_checked([spec])[0]


def test_slots_alternate_and_replicas_own_port_pairs() -> None:
    web = service(replicas=2)
    assert other_slot(None) == "a" and other_slot("a") == "b" and other_slot("b") == "a"
    assert [slot_port(web, s, r) for s in "ab" for r in range(2)] == [18000, 18002, 18001, 18003]
    assert apps_slot_ports("b", web) == [18001, 18003]
    assert apps_slot_ports("", web) == []


def test_the_configuration_hash_changes_with_image_env_and_args_only() -> None:
    web = service()
    base = config_hash(web, "img@" + DIGEST, "e1", ["127.0.0.1"], [])
    assert base == config_hash(web, "img@" + DIGEST, "e1", ["127.0.0.1"], [])
    assert base != config_hash(web, "img@sha256:" + "cd" * 32, "e1", ["127.0.0.1"], [])
    assert base != config_hash(web, "img@" + DIGEST, "e2", ["127.0.0.1"], [])
    assert base != config_hash(web, "img@" + DIGEST, "e1", ["127.0.0.1"], ["--add-host=a:1.2.3.4"])


def test_run_args_publish_on_the_bind_addresses_only() -> None:
    args = run_args(service(memory="512m", cpus=1.5), "img@" + DIGEST, "b", 0, "cfg", "/etc/x.env",
                    ["127.0.0.1", "10.0.0.5"], ["--add-host=api.x:10.0.0.5"])
    published = [args[i + 1] for i, a in enumerate(args) if a == "--publish"]
    assert published == ["127.0.0.1:18001:8000", "10.0.0.5:18001:8000"]
    assert args[args.index("--memory") + 1] == "512m" and args[args.index("--cpus") + 1] == "1.5"
    assert "hearth.slot=b" in args and "--env-file" in args and args[-1] == "img@" + DIGEST


def test_records_keep_previous_distinct_releases(tmp_path: Path) -> None:
    path = str(tmp_path / "web.json")
    web = service(keep=3)
    for image in ("i@1", "i@2", "i@3", "i@4"):
        write_record(path, web, image, "c", "a")
    record = read_record(path)
    assert record["current"]["image"] == "i@4"
    assert [h["image"] for h in record["history"]] == ["i@3", "i@2"]
    write_record(path, web, "i@4", "c2", "b")  # same image again: history unchanged
    assert [h["image"] for h in read_record(path)["history"]] == ["i@3", "i@2"]
    assert json.loads(Path(path).read_text())["service"] == "web"


def test_every_record_on_the_host_keeps_its_current_and_previous_images(tmp_path: Path) -> None:
    for image in ("r@1", "r@2", "r@3"):
        write_record(str(tmp_path / "web.json"), service(name="web", keep=2), image, "c", "a")
    write_record(str(tmp_path / "migrate.json"), service(name="migrate"), "r@4", "c", "a")
    (tmp_path / "notes.txt").write_text("not a record")
    assert kept_images(str(tmp_path)) == {"r@3", "r@2", "r@4"}
    assert kept_images(str(tmp_path / "absent")) == set()


def _row(digest: str, tag: str = "<none>", image_id: str = "", repository: str = "ghcr.io/acme/web") -> dict[str, str]:
    return {"Repository": repository, "Tag": tag, "Digest": digest, "ID": image_id or "sha256:id-" + digest[-4:]}


def test_pruning_removes_only_untagged_digests_of_the_repository_that_nothing_keeps() -> None:
    old, kept, used, tagged, other = ("sha256:" + c * 64 for c in "12345")
    rows = [_row(old), _row(kept), _row(used, image_id="sha256:in-use"), _row(tagged, tag="1.4"),
            _row(other, repository="ghcr.io/acme/api"), _row("<none>")]
    plan = prune_plan(rows, "ghcr.io/acme/web", {f"ghcr.io/acme/web@{kept}"}, {"sha256:in-use"})
    assert plan == [f"ghcr.io/acme/web@{old}"]
    # Nothing to do once the record keeps it too: a re-run prunes nothing.
    assert prune_plan(rows, "ghcr.io/acme/web", {f"ghcr.io/acme/web@{d}" for d in (old, kept)}, {"sha256:in-use"}) == []


PLATFORM = {
    "data-1": {
        "postgres": {"name": "postgres", "listen": ["127.0.0.1", "10.0.0.2"],
                     "connection": {"port": 5432, "sslmode": "require"}, "ports": []},
        "redis": {"name": "redis", "listen": ["127.0.0.1", "10.0.0.2"], "connection": {"port": 6379}, "ports": []},
        "minio": {"name": "minio", "listen": ["10.0.0.2"], "connection": {"port": 9000, "region": "us-east-1"},
                  "ports": []},
    },
    "edge-1": {
        "caddy": {"name": "caddy", "listen": ["127.0.0.1"], "ports": [{"port": 443, "reach": "public"}],
                  "connection": {"tls_mode": "internal", "ca_cert": "/usr/local/share/ca.crt"}},
        "llm": {"name": "llm", "listen": ["10.0.0.3"], "sites": [{"name": "api", "label": "api", "routes": []}],
                "connection": {"port": 11434, "public_path": "/llm/v1", "model": "m"}, "ports": []},
    },
}


def test_endpoints_use_private_addresses_and_the_edge_for_the_llm() -> None:
    ends = apps_endpoints(PLATFORM, "lab.test", {"edge-1": "10.0.0.3"}, {"postgres": {"database": "app"},
                                                                       "s3": {"bucket": "app"}})
    assert ends["postgres"] == {"host": "10.0.0.2", "port": 5432, "database": "app", "sslmode": "require"}
    assert ends["s3"]["url"] == "http://10.0.0.2:9000"
    assert ends["llm"]["base_url"] == "https://api.lab.test/llm/v1"
    assert ends["hosts"] == {"api.lab.test": "10.0.0.3"}
    assert ends["ca_file"] == "/etc/hearth/ca.pem" and ends["ca_source"]["host"] == "edge-1"
    assert apps_edge_hosts(PLATFORM) == ["edge-1"]


def test_a_service_on_loopback_only_is_a_wiring_error_naming_the_host() -> None:
    platform = {"data-1": {"redis": {"name": "redis", "listen": ["127.0.0.1"], "connection": {"port": 6379}}}}
    with pytest.raises(AnsibleFilterError, match="redis on data-1 listens on loopback only.*hearth_private_ip"):
        apps_endpoints(platform, "lab.test", {}, {})


def test_accounts_come_from_the_data_roles_and_missing_ones_name_the_variable() -> None:
    sources = {"postgres_roles": [{"name": "app", "password": "p"}], "redis_users": [{"name": "app", "password": "r"}],
               "minio_users": [{"access_key": "app", "secret_key": "s"}], "caddy_api_keys": [{"name": "apps", "key": "k"}]}
    names = {"postgres_user": "app", "redis_user": "app", "s3_access_key": "app", "llm_key_name": "apps"}
    accounts = apps_accounts(["postgres", "redis", "s3", "llm"], names, sources)
    assert accounts["postgres"]["password"] == "p" and accounts["llm"]["key"] == "k"
    with pytest.raises(AnsibleFilterError, match=r"caddy_api_keys \(apps_llm_key_name\) has no entry"):
        apps_accounts(["llm"], {**names, "llm_key_name": "nope"}, sources)


def test_one_scheduler_host_whatever_the_order() -> None:
    declared = {"b": [{"kind": "scheduler"}], "a": [{"kind": "web"}], "c": [{"kind": "scheduler"}]}
    assert apps_scheduler_host(declared) == "b"
    assert apps_scheduler_host({"a": []}) == ""


def test_deploy_order_puts_jobs_first_and_the_scheduler_last() -> None:
    services = [{"name": "beat", "kind": "scheduler"}, {"name": "w", "kind": "worker"},
                {"name": "web", "kind": "web"}, {"name": "migrate", "kind": "job"}]
    order = ["job", "web", "gpu", "worker", "scheduler"]
    assert [s["name"] for s in apps_ordered(services, order)] == ["migrate", "web", "w", "beat"]


def test_the_offer_publishes_a_site_that_imports_the_upstream_files_and_caddy_renders_it() -> None:
    offer = apps_offer([service(site="app")], ["127.0.0.1", "10.0.0.5"], "/etc/hearth/caddy-upstreams")
    checked = hearth_offer(offer, "apps_offer")
    # Docker-published ports are held by the firewall's forward chain, not by input rules.
    assert checked["ports"] == [] and checked["listen"] == ["127.0.0.1", "10.0.0.5"]
    sites = hearth_caddy_sites({"apps-1": {"apps": checked}}, "apps-1", "lab.test")
    rendered = caddy_caddyfile(caddy_sites(sites, []))
    assert "import /etc/hearth/caddy-upstreams/web/*.caddy" in rendered
    assert "lb_try_duration 10s" in rendered and "health_uri /up" in rendered
    assert apps_upstream_lines([18001], ["127.0.0.1"]) == "to 127.0.0.1:18001\n"
