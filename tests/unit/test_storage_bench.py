"""bench/storage.py's pure parts: endpoints take turns, warm-up rounds do not count, ratios.

The timing itself runs on a converged host (see the module's docstring); here only what
decides whether its numbers mean anything, against an in-memory stand-in for boto3's client.
"""
from __future__ import annotations

from typing import Any

import pytest

import storage as bench_storage


class FakeS3:
    """Stores objects in memory and logs every call as (endpoint, operation)."""

    def __init__(self, name: str, log: list[tuple[str, str]], short: bool = False) -> None:
        self.name, self.log, self.short, self.objects = name, log, short, {}

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:  # noqa: N803 (boto3's names)
        self.log.append((self.name, "put"))
        self.objects[Key] = Body

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        self.log.append((self.name, "get"))
        data = self.objects[Key][:-1] if self.short else self.objects[Key]

        class Body:
            def read(self) -> bytes:
                return data

        return {"Body": Body()}

    def delete_object(self, Bucket: str, Key: str) -> None:  # noqa: N803
        self.log.append((self.name, "delete"))
        del self.objects[Key]


def test_endpoints_take_turns_and_the_warm_up_round_is_not_counted() -> None:
    log: list[tuple[str, str]] = []
    clients = {name: FakeS3(name, log) for name in ("direct", "via_caddy", "caddy_http_flush")}
    results = bench_storage.throughput(clients, "bench", 1024, 3)
    # 1 warm-up + 3 counted rounds, each endpoint in turn, then one delete each.
    puts = [name for name, op in log if op == "put"]
    assert puts == ["direct", "via_caddy", "caddy_http_flush"] * 4
    assert [name for name, op in log if op == "delete"] == list(clients)
    assert set(results) == set(clients)
    assert all(r["get_mib_s"] > 0 and r["put_mib_s"] > 0 for r in results.values())
    assert all(not client.objects for client in clients.values())


def test_a_short_read_fails_the_run_naming_the_endpoint() -> None:
    log: list[tuple[str, str]] = []
    with pytest.raises(RuntimeError, match="via_caddy: short read"):
        bench_storage.throughput({"direct": FakeS3("direct", log), "via_caddy": FakeS3("via_caddy", log, short=True)},
                                 "bench", 64, 1)


def test_variant_configs_differ_only_in_the_proxy_setting() -> None:
    configs = {name: bench_storage.variant_config(18090, "127.0.0.1:9000", directives)
               for name, directives in bench_storage.VARIANTS.items()}
    assert all("http://127.0.0.1:18090 {" in c and "reverse_proxy 127.0.0.1:9000 {" in c and "admin off" in c
               for c in configs.values())
    assert "flush_interval -1" in configs["caddy_http_flush"]
    assert "flush_interval" not in configs["caddy_http_default"]
    assert "read_buffer 64KiB" in configs["caddy_http_flush_buffers"]
    tls = bench_storage.variant_config(18093, "127.0.0.1:9000", "flush_interval -1", tls=True)
    assert "https://127.0.0.1:18093 {" in tls and "tls internal" in tls and "skip_install_trust" in tls
    assert configs["caddy_http_flush"].count("{") == configs["caddy_http_flush"].count("}")
    assert bench_storage.ratio(90.0, 100.0) == 0.9 and bench_storage.ratio(1.0, 0.0) == 0.0
