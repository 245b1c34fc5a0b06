"""Memory sizing and pg_hba rendering for the postgres role."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hearth.platform.plugins.filter.postgres import postgres_hba, postgres_memory


def mb(value: str) -> int:
    assert value.endswith("MB")
    return int(value[:-2])


def test_gpu_box_gets_a_quarter_of_its_share_as_shared_buffers() -> None:
    # 1x H100 Lambda instance: ~225 GiB RAM, Postgres gets 25 %.
    settings = postgres_memory(230_000, 0.25, 26)
    assert mb(settings["shared_buffers"]) == 230_000 // 4 // 4
    assert mb(settings["effective_cache_size"]) == 230_000 // 4 * 3 // 4
    assert mb(settings["maintenance_work_mem"]) == 230_000 // 4 // 8
    assert settings["max_parallel_maintenance_workers"] == 8


def test_small_lab_host_stays_above_the_minimums() -> None:
    settings = postgres_memory(1024, 0.1, 1)
    assert mb(settings["shared_buffers"]) == 128
    assert mb(settings["work_mem"]) == 4
    assert mb(settings["maintenance_work_mem"]) == 64
    assert settings["max_parallel_maintenance_workers"] == 1


def test_share_changes_every_memory_setting_monotonically() -> None:
    low = postgres_memory(64_000, 0.1, 8)
    high = postgres_memory(64_000, 0.5, 8)
    for key in ("shared_buffers", "effective_cache_size", "work_mem", "maintenance_work_mem"):
        assert mb(high[key]) > mb(low[key]), key


def test_huge_hosts_are_capped() -> None:
    settings = postgres_memory(2_000_000, 1.0, 208)
    assert mb(settings["shared_buffers"]) == 64 * 1024
    assert mb(settings["maintenance_work_mem"]) == 16 * 1024
    assert mb(settings["work_mem"]) == 512


@pytest.mark.parametrize("share", [0, -0.5, 1.5, "half"])
def test_bad_share_names_the_variable(share: object) -> None:
    with pytest.raises(AnsibleFilterError, match="postgres_memory_share"):
        postgres_memory(8192, share, 2)


def test_hba_renders_local_and_network_rules() -> None:
    lines = postgres_hba([
        {"type": "local", "user": "postgres", "method": "peer"},
        {"type": "host", "database": "app", "user": "app", "address": "10.0.0.5/8"},
    ])
    assert lines == ["local\tall\tpostgres\t\tpeer", "host\tapp\tapp\t10.0.0.0/8\tscram-sha-256"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"type": "host", "address": "10.0.0.0/8", "method": "md5"}, r"postgres_hba_rules\[0\]\.method"),
        ({"type": "host"}, r"postgres_hba_rules\[0\]\.address is required"),
        ({"type": "host", "address": "not-a-net"}, r"postgres_hba_rules\[0\]\.address must be a CIDR"),
        ({"type": "hostgssenc", "address": "10.0.0.0/8"}, r"postgres_hba_rules\[0\]\.type"),
        ("host all all", r"postgres_hba_rules\[0\] must be a mapping"),
    ],
)
def test_hba_rejects_bad_rules_by_name(rule: object, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        postgres_hba([rule])
