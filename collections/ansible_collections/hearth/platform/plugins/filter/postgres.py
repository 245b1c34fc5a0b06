"""Filters for the postgres role: memory sizing and pg_hba rule rendering.

The memory filter turns "this much of the host's RAM belongs to Postgres" into the handful of
settings that matter. On a GPU box Postgres shares RAM with inference servers and their page
cache, so sizing from the whole machine (as most tuning guides do) would starve them.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from ansible.errors import AnsibleFilterError

MIB_PER_GIB = 1024

# Bounds keep tiny lab hosts bootable and stop absurd values on very large machines.
SHARED_BUFFERS_MIN_MB = 128
SHARED_BUFFERS_MAX_MB = 64 * MIB_PER_GIB
WORK_MEM_MIN_MB = 4
WORK_MEM_MAX_MB = 512
MAINTENANCE_MIN_MB = 64
MAINTENANCE_MAX_MB = 16 * MIB_PER_GIB  # HNSW builds are fastest when the graph fits here.


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _positive_number(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"{name} must be a number, got {value!r}") from None
    if number <= 0:
        raise AnsibleFilterError(f"{name} must be greater than 0, got {value!r}")
    return number


def postgres_memory(total_mb: Any, share: Any = 0.25, cpus: Any = 1, max_connections: Any = 100) -> dict[str, Any]:
    """Derive memory and parallelism settings from a host's RAM share.

    total_mb: the host's RAM in MiB. share: the fraction (0-1] that Postgres may use, page cache
    included. cpus: logical CPUs. Returns postgresql.conf values (strings with units, or ints).
    """
    total = _positive_number("total_mb", total_mb)
    fraction = _positive_number("postgres_memory_share", share)
    if fraction > 1:
        raise AnsibleFilterError(f"postgres_memory_share must be a fraction in (0, 1], got {share!r}")
    cores = int(_positive_number("cpus", cpus))
    connections = int(_positive_number("max_connections", max_connections))

    budget = int(total * fraction)
    shared_buffers = _clamp(budget // 4, SHARED_BUFFERS_MIN_MB, SHARED_BUFFERS_MAX_MB)
    effective_cache = max(shared_buffers, budget * 3 // 4)
    maintenance = _clamp(budget // 8, MAINTENANCE_MIN_MB, MAINTENANCE_MAX_MB)
    # Each connection may run a few sorts or hashes at once; what is left after shared buffers
    # and one maintenance job is spread over them.
    spare = max(0, budget - shared_buffers - maintenance)
    work_mem = _clamp(spare // (connections * 3), WORK_MEM_MIN_MB, WORK_MEM_MAX_MB)
    parallel_maintenance = _clamp(cores // 2, 1, 8)
    return {
        "shared_buffers": f"{shared_buffers}MB",
        "effective_cache_size": f"{effective_cache}MB",
        "work_mem": f"{work_mem}MB",
        "maintenance_work_mem": f"{maintenance}MB",
        "max_parallel_maintenance_workers": parallel_maintenance,
        "max_worker_processes": max(8, cores),
        "max_parallel_workers": max(2, cores),
        "max_parallel_workers_per_gather": _clamp(cores // 4, 1, 4),
    }


HBA_TYPES = ("local", "host", "hostssl", "hostnossl")
HBA_METHODS = ("scram-sha-256", "peer", "reject", "cert")


def _hba_line(rule: dict[str, Any], index: int) -> str:
    where = f"postgres_hba_rules[{index}]"
    if not isinstance(rule, dict):
        raise AnsibleFilterError(f"{where} must be a mapping, got {rule!r}")
    kind = rule.get("type", "host")
    method = rule.get("method", "scram-sha-256")
    if kind not in HBA_TYPES:
        raise AnsibleFilterError(f"{where}.type must be one of {', '.join(HBA_TYPES)}, got {kind!r}")
    if method not in HBA_METHODS:
        raise AnsibleFilterError(
            f"{where}.method must be one of {', '.join(HBA_METHODS)} (md5 and password are not "
            f"allowed: scram-sha-256 only), got {method!r}"
        )
    database = str(rule.get("database", "all"))
    user = str(rule.get("user", "all"))
    if kind == "local":
        return f"local\t{database}\t{user}\t\t{method}"
    address = rule.get("address")
    if not address:
        raise AnsibleFilterError(f"{where}.address is required for type {kind!r} (a CIDR such as 10.0.0.0/8)")
    try:
        network = ipaddress.ip_network(str(address), strict=False)
    except ValueError:
        raise AnsibleFilterError(f"{where}.address must be a CIDR such as 10.0.0.0/8, got {address!r}") from None
    return f"{kind}\t{database}\t{user}\t{network.with_prefixlen}\t{method}"


def postgres_hba(rules: Any) -> list[str]:
    """Render a list of pg_hba rules (mappings) as pg_hba.conf lines, rejecting weak methods."""
    if not isinstance(rules, list):
        raise AnsibleFilterError(f"postgres_hba_rules must be a list of mappings, got {type(rules).__name__}")
    return [_hba_line(rule, index) for index, rule in enumerate(rules)]


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return {"postgres_memory": postgres_memory, "postgres_hba": postgres_hba}
