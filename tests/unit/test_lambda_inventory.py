"""The lambda_cloud inventory plugin, through ``ansible-inventory --list`` against the fake API."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ansible_collections.hearth.platform.plugins.inventory import lambda_cloud as plugin

from fake_lambda.fixtures import ansible_env, fake, run_cli  # noqa: F401 - fake is a fixture

PROD = {"hearth-env": "production"}


def plain(value):
    """Undo ansible-inventory's JSON marking of untrusted (API-supplied) strings."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def populate(fake) -> None:  # noqa: F811
    fake.boot_polls = None
    fake.add_instance("prod-gpu-1", "gpu_8x_h100_sxm5", "us-east-1",
                      tags={**PROD, "hearth-role": "gpu,data"})
    fake.add_instance("prod-edge", "gpu_1x_a10", "us-west-1", tags={**PROD, "hearth-role": "edge apps"})
    fake.add_instance("prod-next", "gpu_1x_a10", status="booting", tags={**PROD, "hearth-role": "gpu"})
    fake.add_instance("dev-1", "gpu_1x_a10", tags={"hearth-env": "dev", "hearth-role": "gpu"})


def write_config(tmp_path: Path, fake, extra: str = "") -> Path:  # noqa: F811
    config = tmp_path / "lambda_cloud.yml"
    config.write_text("plugin: hearth.platform.lambda_cloud\napi_url: %s\ntag_filters:\n  hearth-env: production\n"
                      "keyed_groups:\n  - key: lambda_gpu.count | string\n    prefix: gpus\n"
                      "compose:\n  gpu_count_plus_one: lambda_gpu.count + 1\n%s" % (fake.url, extra))
    return config


def inventory(tmp_path: Path, config: Path, key: str, *args: str) -> subprocess.CompletedProcess:
    env = ansible_env(tmp_path, LAMBDA_API_KEY=key)
    return run_cli("ansible-inventory", ["-i", str(config), "--list", *args], env)


def test_inventory_lists_active_hosts_with_groups_and_vars(fake, tmp_path) -> None:  # noqa: F811
    populate(fake)
    run = inventory(tmp_path, write_config(tmp_path, fake), fake.api_key)
    assert run.returncode == 0, run.stderr
    data = plain(json.loads(run.stdout))
    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == ["prod-edge", "prod-gpu-1"]
    gpu = hostvars["prod-gpu-1"]
    assert gpu["ansible_host"].startswith("198.51.100.")
    assert gpu["ansible_user"] == "ubuntu"
    assert gpu["hearth_private_ip"].startswith("10.19.0.") and gpu["lambda_private_ip"] == gpu["hearth_private_ip"]
    assert gpu["lambda_gpu"]["count"] == 8 and gpu["lambda_gpu"]["model"] == "H100 (80 GB SXM5)"
    assert gpu["lambda_gpu"]["vcpus"] == 208
    assert gpu["gpu_count_plus_one"] == 9
    assert gpu["lambda_tags"]["hearth-role"] == "gpu,data"
    assert data["gpu"]["hosts"] == ["prod-gpu-1"]
    assert data["data"]["hosts"] == ["prod-gpu-1"]
    assert sorted(data["edge"]["hosts"] + data["apps"]["hosts"]) == ["prod-edge", "prod-edge"]
    assert sorted(data["env_production"]["hosts"]) == ["prod-edge", "prod-gpu-1"]
    assert data["region_us_east_1"]["hosts"] == ["prod-gpu-1"]
    assert data["type_gpu_8x_h100_sxm5"]["hosts"] == ["prod-gpu-1"]
    assert data["gpus_8"]["hosts"] == ["prod-gpu-1"]
    assert "jupyter" not in run.stdout
    assert "prod-next" in run.stderr and "booting" in run.stderr, "non-active instances are reported"
    assert "dev-1" not in run.stdout + run.stderr


def test_inventory_cache_is_used_until_flushed(fake, tmp_path) -> None:  # noqa: F811
    populate(fake)
    config = write_config(tmp_path, fake, "cache: true\ncache_timeout: 3600\n")
    first = inventory(tmp_path, config, fake.api_key)
    assert first.returncode == 0, first.stderr
    assert len(fake.calls("GET", "/instances")) == 1
    fake.add_instance("prod-late", tags=PROD)
    cached = inventory(tmp_path, config, fake.api_key)
    assert "prod-late" not in json.loads(cached.stdout)["_meta"]["hostvars"]
    assert len(fake.calls("GET", "/instances")) == 1, "second run is served from the cache"
    flushed = inventory(tmp_path, config, fake.api_key, "--flush-cache")
    assert "prod-late" in json.loads(flushed.stdout)["_meta"]["hostvars"]
    cache_files = list((tmp_path / "inventory-cache").iterdir())
    assert cache_files, "the cache plugin wrote the instance list"
    for path in cache_files:
        text = path.read_text()
        assert "jupyter" not in text and fake.api_key not in text


def test_inventory_reads_a_vaulted_api_key(fake, tmp_path) -> None:  # noqa: F811
    populate(fake)
    secret = tmp_path / "vault-pass"
    secret.write_text("correct horse battery staple\n")
    env = ansible_env(tmp_path)
    vaulted = run_cli("ansible-vault", ["encrypt_string", "--vault-password-file", str(secret),
                                        "--name", "api_key", fake.api_key], env)
    assert vaulted.returncode == 0, vaulted.stderr
    config = write_config(tmp_path, fake, vaulted.stdout)
    assert fake.api_key not in config.read_text()
    run = run_cli("ansible-inventory", ["-i", str(config), "--list", "--vault-password-file", str(secret)], env)
    assert run.returncode == 0, run.stderr
    assert "prod-gpu-1" in json.loads(run.stdout)["_meta"]["hostvars"]


def test_inventory_with_a_bad_key_reports_the_api_error(fake, tmp_path) -> None:  # noqa: F811
    populate(fake)
    run = inventory(tmp_path, write_config(tmp_path, fake), "wrong-key")
    assert "global/invalid-api-key" in run.stderr
    assert json.loads(run.stdout)["_meta"]["hostvars"] == {}


def test_duplicate_names_fall_back_to_the_instance_id() -> None:
    base = {"status": "active", "ip": "198.51.100.1", "tags": [], "region": {"name": "us-west-1"},
            "instance_type": {"name": "gpu_1x_a10"}}
    hosts, skipped = plugin.select([dict(base, id="b", name="web"), dict(base, id="a", name="web"),
                                    dict(base, id="c", name=""), dict(base, id="d", name="x", status="unhealthy"),
                                    dict(base, id="e", name="y", status="terminated")], {})
    assert [name for name, _ in hosts] == ["c", "web", "b"]
    assert skipped == ["x (d) is unhealthy"]


def test_role_tag_groups_are_safe_names() -> None:
    instance = {"region": {"name": "us-west-1"}, "instance_type": {"name": "gpu_1x_a10"},
                "tags": [{"key": "hearth-env", "value": "prod-eu"},
                         {"key": "hearth-role", "value": "gpu, data,web-front"}]}
    assert plugin.host_groups(instance, True) == ["region_us_west_1", "type_gpu_1x_a10", "env_prod_eu",
                                                  "data", "gpu", "web_front"]
    assert plugin.host_groups(instance, False) == ["region_us_west_1", "type_gpu_1x_a10", "env_prod_eu"]


def test_config_file_names() -> None:
    module = plugin.InventoryModule()
    assert plugin.CONFIG_NAME.search("inventories/production/lambda_cloud.yml")
    assert plugin.CONFIG_NAME.search("prod.lambda_cloud.yaml")
    assert not plugin.CONFIG_NAME.search("hosts.yml")
    assert not module.verify_file("/nonexistent/lambda_cloud.yml")
