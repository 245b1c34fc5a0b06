"""The migrate role's filters and the redis_copy module's decisions (no servers needed).

The module's copy loop is exercised against an in-memory Redis double that implements the
handful of commands it uses with Redis' semantics (DUMP of a missing key is None, PTTL -2 for a
missing key and -1 for one without expiry); the real path runs against the ElastiCache
stand-in in the platform scenario.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "collections/ansible_collections/hearth/platform/plugins"


def load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


migrate = load(PLUGINS / "filter/migrate.py", "migrate_filters")
redis_copy = load(PLUGINS / "modules/redis_copy.py", "redis_copy_module")

PG = {
    "host": "db.abc.us-east-1.rds.amazonaws.com",
    "user": "postgres",
    "password": "pw-Secret-1",
    "databases": [{"name": "app", "owner": "app"}],
}


def test_postgres_source_defaults() -> None:
    src = migrate.migrate_postgres_source(PG)
    assert src["port"] == 5432 and src["sslmode"] == "verify-full" and src["sslrootcert"] == "system"
    assert src["databases"] == [{"name": "app", "target": "app", "owner": "app", "method": "dump",
                                 "schemas": ["public"], "checksum_tables": []}]


def test_empty_sources_mean_nothing_to_migrate() -> None:
    assert migrate.migrate_postgres_source({}) == {}
    assert migrate.migrate_s3_source(None) == {}
    assert migrate.migrate_redis_source({}) == {}


@pytest.mark.parametrize(("change", "where"), [
    ({"host": "postgres://db:5432"}, "migrate_postgres_source.host"),
    ({"port": 0}, "migrate_postgres_source.port"),
    ({"sslmode": "disable"}, "migrate_postgres_source.sslmode"),
    ({"databases": []}, "migrate_postgres_source.databases"),
    ({"databases": [{"name": "app"}]}, "migrate_postgres_source.databases[0].owner"),
    ({"databases": [{"name": "app", "owner": "app", "method": "pgcopydb"}]}, "migrate_postgres_source.databases[0].method"),
    ({"databases": [{"name": "a", "owner": "o"}, {"name": "b", "target": "a", "owner": "o"}]},
     "migrate_postgres_source.databases[1].target"),
    ({"databases": [{"name": "app", "owner": "app", "checksum_tables": ["documents"]}]},
     "migrate_postgres_source.databases[0].checksum_tables[0]"),
    ({"colour": "blue"}, "migrate_postgres_source"),
])
def test_postgres_source_errors_name_the_key(change: dict[str, Any], where: str) -> None:
    with pytest.raises(AnsibleFilterError) as err:
        migrate.migrate_postgres_source({**PG, **change})
    assert str(err.value).startswith(where + ":")


def test_postgres_source_never_prints_the_password() -> None:
    with pytest.raises(AnsibleFilterError) as err:
        migrate.migrate_postgres_source({**PG, "password": ""})
    assert "migrate_postgres_source.password" in str(err.value)
    with pytest.raises(AnsibleFilterError) as err:
        migrate.migrate_postgres_source({**PG, "password": 12345678})
    assert "12345678" not in str(err.value)


def test_unknown_default_method_names_the_variable() -> None:
    with pytest.raises(AnsibleFilterError, match="^migrate_postgres_method:"):
        migrate.migrate_postgres_source(PG, default_method="copy")


S3 = {"endpoint": "https://s3.eu-west-1.amazonaws.com", "access_key": "AKIA", "secret_key": "s-Secret-1",
      "buckets": ["app-uploads", {"name": "app-logs", "target": "logs"}]}


def test_s3_source_normalises_buckets() -> None:
    src = migrate.migrate_s3_source(S3)
    assert src["buckets"] == [{"name": "app-uploads", "target": "app-uploads"}, {"name": "app-logs", "target": "logs"}]
    assert src["region"] == "us-east-1"


@pytest.mark.parametrize(("change", "where"), [
    ({"endpoint": "s3.amazonaws.com"}, "migrate_s3_source.endpoint"),
    ({"endpoint": "https://s3.amazonaws.com/bucket"}, "migrate_s3_source.endpoint"),
    ({"endpoint": "https://s3.amazonaws.com:99999"}, "migrate_s3_source.endpoint"),
    ({"buckets": ["Bad_Bucket"]}, "migrate_s3_source.buckets[0].name"),
    ({"buckets": ["a-b", {"name": "c-d", "target": "a-b"}]}, "migrate_s3_source.buckets[1].target"),
    ({"secret_key": ""}, "migrate_s3_source.secret_key"),
])
def test_s3_source_errors_name_the_key(change: dict[str, Any], where: str) -> None:
    with pytest.raises(AnsibleFilterError) as err:
        migrate.migrate_s3_source({**S3, **change})
    assert str(err.value).startswith(where + ":")
    assert "s-Secret-1" not in str(err.value)


def test_redis_source_database_pairs() -> None:
    src = migrate.migrate_redis_source({"host": "cache.abc.use1.cache.amazonaws.com", "databases": [0, {"source": 1, "target": 9}]})
    assert src["tls"] is True and src["port"] == 6379
    assert src["databases"] == [{"source": 0, "target": 0}, {"source": 1, "target": 9}]


@pytest.mark.parametrize(("change", "where"), [
    ({"databases": [16]}, "migrate_redis_source.databases[0]"),
    ({"databases": [0, {"source": 1, "target": 0}]}, "migrate_redis_source.databases"),
    ({"tls": "yes"}, "migrate_redis_source.tls"),
    ({"host": ""}, "migrate_redis_source.host"),
])
def test_redis_source_errors_name_the_key(change: dict[str, Any], where: str) -> None:
    with pytest.raises(AnsibleFilterError) as err:
        migrate.migrate_redis_source({"host": "cache", **change})
    assert str(err.value).startswith(where + ":")


def test_conninfo_keeps_the_password_out() -> None:
    info = migrate.migrate_pg_conninfo(migrate.migrate_postgres_source(PG), "app", "/x/pgpass")
    assert "pw-Secret-1" not in info
    assert "passfile=/x/pgpass" in info and "sslmode=verify-full" in info and "dbname=app" in info


def test_seconds_from_a_command_result() -> None:
    assert migrate.migrate_seconds({"start": "2026-12-01 10:00:00.000000", "end": "2026-12-01 10:01:02.500000"}) == 62.5
    assert migrate.migrate_seconds({"skipped": True}) == 0.0


def test_rclone_stats_reads_the_last_stats_line() -> None:
    log = "\n".join([
        json.dumps({"level": "info", "msg": "Copied (new)", "object": "a"}),
        json.dumps({"level": "notice", "msg": "stats", "stats": {"transfers": 1, "bytes": 10, "checks": 0, "elapsedTime": 0.5}}),
        "not json",
        json.dumps({"level": "notice", "msg": "stats", "stats": {"transfers": 3, "bytes": 300, "checks": 2, "elapsedTime": 1.5}}),
    ])
    assert migrate.migrate_rclone_stats(log) == {"transfers": 3, "bytes": 300, "checks": 2, "errors": 0, "seconds": 1.5}
    assert migrate.migrate_rclone_stats("") == {"transfers": 0, "bytes": 0, "checks": 0, "errors": 0, "seconds": 0.0}


def test_bucket_result_rates_and_matches() -> None:
    stats = {"transfers": 10, "bytes": 4_000_000, "checks": 5, "errors": 0, "seconds": 2.0}
    result = migrate.migrate_bucket_result((stats, {"name": "a", "target": "b"}, {"stderr": "NOTICE: 15 matching files\n"}))
    assert result["objects_per_second"] == 5.0 and result["mb_per_second"] == 2.0
    assert result["matching_objects"] == 15 and result["unchanged_objects"] == 5


# --- redis_copy ---------------------------------------------------------------------------------


class FakeRedis:
    """The commands redis_copy uses, with Redis' answers for missing keys and expiries."""

    def __init__(self, data: dict[bytes, tuple[bytes, int]] | None = None) -> None:
        self.data = dict(data or {})  # key -> (payload, pttl or -1)
        self.restored: list[bytes] = []

    def pipeline(self, transaction: bool = False) -> "FakePipe":
        return FakePipe(self)

    def dump(self, key: bytes) -> bytes | None:
        return self.data[key][0] if key in self.data else None

    def pttl(self, key: bytes) -> int:
        return self.data[key][1] if key in self.data else -2

    def exists(self, key: bytes) -> int:
        return int(key in self.data)

    def restore(self, key: bytes, ttl: int, payload: bytes, replace: bool = False) -> None:
        assert replace
        self.data[key] = (payload, ttl if ttl > 0 else -1)
        self.restored.append(key)

    def scan(self, cursor: int = 0, count: int = 10) -> tuple[int, list[bytes]]:
        keys = sorted(self.data)
        chunk = keys[cursor:cursor + count]
        following = cursor + count
        return (following if following < len(keys) else 0), chunk

    def dbsize(self) -> int:
        return len(self.data)


class FakePipe:
    def __init__(self, client: FakeRedis) -> None:
        self.client, self.calls = client, []

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))

    def execute(self) -> list[Any]:
        return [getattr(self.client, name)(*args, **kwargs) for name, args, kwargs in self.calls]


def test_needs_copy_compares_payload_and_kind_of_expiry() -> None:
    assert redis_copy.needs_copy(b"v", -1, None, -2)
    assert not redis_copy.needs_copy(b"v", 5000, b"v", 4000)
    assert redis_copy.needs_copy(b"v", 5000, b"v", -1)
    assert redis_copy.needs_copy(b"v2", -1, b"v", -1)
    assert not redis_copy.needs_copy(None, -2, None, -2)
    assert redis_copy.restore_ttl(-1) == 0 and redis_copy.restore_ttl(1500) == 1500


def test_copy_database_copies_once_and_carries_ttls() -> None:
    source = FakeRedis({f"k{i}".encode(): (f"v{i}".encode(), 60_000 if i % 2 else -1) for i in range(25)})
    target = FakeRedis({b"k3": (b"stale", -1), b"other": (b"kept", -1)})
    first = redis_copy.copy_database(source, target, batch=10, check=False)
    assert first["scanned"] == 25 and first["copied"] == 25 and first["missing"] == 0
    assert target.data[b"k1"] == (b"v1", 60_000) and target.data[b"k2"] == (b"v2", -1)
    assert target.data[b"other"] == (b"kept", -1), "keys the source does not have are left alone"
    second = redis_copy.copy_database(source, target, batch=10, check=False)
    assert second["copied"] == 0 and second["equal"] == 25


def test_check_mode_counts_without_writing() -> None:
    source = FakeRedis({b"a": (b"1", -1), b"b": (b"2", 1000)})
    target = FakeRedis()
    counts = redis_copy.copy_database(source, target, batch=10, check=True)
    assert counts["copied"] == 2 and target.data == {}
