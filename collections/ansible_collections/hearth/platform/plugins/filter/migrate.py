"""Filters for the migrate role: the AWS sources (RDS, S3, ElastiCache) checked and normalised.

A migration reads from a system the team is about to switch off, so a typo must fail before
anything is copied or created: every error names the variable and the key, and never prints a
secret. An empty mapping means "nothing to migrate from this service".
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
SSLMODES = ("require", "verify-ca", "verify-full")
METHODS = ("dump", "logical")

PG_KNOWN = {"host", "port", "user", "password", "sslmode", "sslrootcert", "databases"}
PG_DB_KNOWN = {"name", "target", "owner", "method", "schemas", "checksum_tables"}
S3_KNOWN = {"endpoint", "region", "access_key", "secret_key", "ca_file", "buckets"}
S3_BUCKET_KNOWN = {"name", "target"}
REDIS_KNOWN = {"host", "port", "user", "password", "tls", "ca_file", "databases"}


def _err(where: str, expected: str, got: Any) -> AnsibleFilterError:
    return AnsibleFilterError(f"{where}: expected {expected}, got {got!r}")


def _mapping(where: str, value: Any, known: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _err(where, "a mapping", value)
    unknown = sorted(set(value) - known)
    if unknown:
        raise _err(where, f"only the keys {sorted(known)}", unknown)
    return value


def _text(where: str, value: Any, pattern: re.Pattern[str] | None = None, expected: str = "a non-empty string") -> str:
    if not isinstance(value, str) or not value or (pattern is not None and not pattern.match(value)):
        raise _err(where, expected, value)
    return value


def _secret(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _err(where, "a non-empty string from the vault", "<hidden>" if value else value)
    return value


def _port(where: str, value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not str(value).isdigit() or not 1 <= int(value) <= 65535:
        raise _err(where, "a port between 1 and 65535", value)
    return int(value)


def _host(where: str, value: Any) -> str:
    return _text(where, value, HOST, "a host name or IP address (no scheme, no port)")


def _ident_list(where: str, value: Any, default: list[str]) -> list[str]:
    if value is None:
        return list(default)
    if not isinstance(value, list) or not value:
        raise _err(where, "a non-empty list of names", value)
    return [_text(f"{where}[{i}]", item, IDENT, "a lower-case SQL name") for i, item in enumerate(value)]


def _qualified_tables(where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _err(where, "a list of schema.table names", value)
    tables = []
    for i, item in enumerate(value):
        parts = item.split(".") if isinstance(item, str) else []
        if len(parts) != 2 or not all(IDENT.match(p) for p in parts):
            raise _err(f"{where}[{i}]", "schema.table in lower case", item)
        tables.append(item)
    return tables


def _name_and_target(where: str, entry: dict[str, Any], pattern: re.Pattern[str], what: str,
                     seen: set[str]) -> tuple[str, str]:
    """An entry's source name and the name it lands under here (the same unless told), which no
    other entry may also land under: two copies into one place would mix their data."""
    name = _text(f"{where}.name", entry.get("name"), pattern, f"a {what} name")
    target = _text(f"{where}.target", entry.get("target", name), pattern, f"a {what} name")
    if target in seen:
        raise _err(f"{where}.target", f"a {what} no other entry copies into", target)
    seen.add(target)
    return name, target


def migrate_postgres_source(source: Any, variable: str = "migrate_postgres_source",
                            default_method: str = "dump") -> dict[str, Any]:
    """Check the Postgres source (RDS or any Postgres reachable over TLS) and its databases.

    Returns the source with defaults filled in: port 5432, sslmode verify-full, each database's
    target named like its source, method from the play's default, schema public. TLS is not
    optional: RDS offers it everywhere, and the dump travels over a network the team does not own.
    """
    if source in (None, {}):
        return {}
    src = _mapping(variable, source, PG_KNOWN)
    if default_method not in METHODS:
        raise _err("migrate_postgres_method", f"one of {list(METHODS)}", default_method)
    result: dict[str, Any] = {
        "host": _host(f"{variable}.host", src.get("host")),
        "port": _port(f"{variable}.port", src.get("port"), 5432),
        "user": _text(f"{variable}.user", src.get("user"), IDENT, "the master user's name"),
        "password": _secret(f"{variable}.password", src.get("password")),
        "sslmode": src.get("sslmode", "verify-full"),
        "sslrootcert": src.get("sslrootcert", "system"),
    }
    if result["sslmode"] not in SSLMODES:
        raise _err(f"{variable}.sslmode", f"one of {list(SSLMODES)} (TLS is required)", result["sslmode"])
    _text(f"{variable}.sslrootcert", result["sslrootcert"], expected="a CA file on the host, or 'system'")
    dbs = src.get("databases")
    if not isinstance(dbs, list) or not dbs:
        raise _err(f"{variable}.databases", "a non-empty list of databases to migrate", dbs)
    seen_targets: set[str] = set()
    result["databases"] = []
    for i, db in enumerate(dbs):
        where = f"{variable}.databases[{i}]"
        db = _mapping(where, db, PG_DB_KNOWN)
        name, target = _name_and_target(where, db, IDENT, "database", seen_targets)
        method = db.get("method", default_method)
        if method not in METHODS:
            raise _err(f"{where}.method", f"one of {list(METHODS)}", method)
        result["databases"].append({
            "name": name,
            "target": target,
            "owner": _text(f"{where}.owner", db.get("owner"), IDENT, "the Hearth role that will own the database"),
            "method": method,
            "schemas": _ident_list(f"{where}.schemas", db.get("schemas"), ["public"]),
            "checksum_tables": _qualified_tables(f"{where}.checksum_tables", db.get("checksum_tables")),
        })
    return result


def migrate_s3_source(source: Any, variable: str = "migrate_s3_source") -> dict[str, Any]:
    """Check the S3 source: an endpoint URL with its scheme, keys, and the buckets to mirror."""
    if source in (None, {}):
        return {}
    src = _mapping(variable, source, S3_KNOWN)
    endpoint = src.get("endpoint")
    parts = urlsplit(endpoint) if isinstance(endpoint, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise _err(f"{variable}.endpoint", "a URL with its scheme, https://host[:port]", endpoint)
    try:
        parts.port
    except ValueError:
        raise _err(f"{variable}.endpoint", "a port between 1 and 65535", endpoint) from None
    buckets = src.get("buckets")
    if not isinstance(buckets, list) or not buckets:
        raise _err(f"{variable}.buckets", "a non-empty list of buckets to mirror", buckets)
    result_buckets = []
    targets: set[str] = set()
    for i, bucket in enumerate(buckets):
        where = f"{variable}.buckets[{i}]"
        if isinstance(bucket, str):
            bucket = {"name": bucket}
        bucket = _mapping(where, bucket, S3_BUCKET_KNOWN)
        name, target = _name_and_target(where, bucket, BUCKET, "bucket", targets)
        result_buckets.append({"name": name, "target": target})
    return {
        "endpoint": endpoint.rstrip("/"),
        "region": _text(f"{variable}.region", src.get("region", "us-east-1")),
        "access_key": _secret(f"{variable}.access_key", src.get("access_key")),
        "secret_key": _secret(f"{variable}.secret_key", src.get("secret_key")),
        "ca_file": src.get("ca_file", ""),
        "buckets": result_buckets,
    }


def _db_number(where: str, value: Any) -> int:
    if isinstance(value, bool) or not str(value).isdigit() or int(value) > 15:
        raise _err(where, "a database number 0-15", value)
    return int(value)


def _db_pair(where: str, value: Any) -> dict[str, int]:
    """A source database number and the one it lands in (the same unless told otherwise)."""
    if isinstance(value, dict):
        value = _mapping(where, value, {"source", "target"})
        source = _db_number(f"{where}.source", value.get("source"))
        return {"source": source, "target": _db_number(f"{where}.target", value.get("target", source))}
    number = _db_number(where, value)
    return {"source": number, "target": number}


def migrate_redis_source(source: Any, variable: str = "migrate_redis_source") -> dict[str, Any]:
    """Check the Redis source (ElastiCache: TLS and an AUTH token are the usual setting)."""
    if source in (None, {}):
        return {}
    src = _mapping(variable, source, REDIS_KNOWN)
    tls = src.get("tls", True)
    if not isinstance(tls, bool):
        raise _err(f"{variable}.tls", "true or false", tls)
    dbs = src.get("databases", [0])
    if not isinstance(dbs, list) or not dbs:
        raise _err(f"{variable}.databases", "a list of database numbers 0-15 or {source: N, target: M}", dbs)
    pairs = [_db_pair(f"{variable}.databases[{i}]", d) for i, d in enumerate(dbs)]
    if len({p["target"] for p in pairs}) != len(pairs):
        raise _err(f"{variable}.databases", "each target database once", dbs)
    password = src.get("password", "")
    if password and not isinstance(password, str):
        raise _err(f"{variable}.password", "a string from the vault", "<hidden>")
    user = src.get("user", "")
    if user and not isinstance(user, str):
        raise _err(f"{variable}.user", "a user name", user)
    return {
        "host": _host(f"{variable}.host", src.get("host")),
        "port": _port(f"{variable}.port", src.get("port"), 6379),
        "user": user or "",
        "password": password or "",
        "tls": tls,
        "ca_file": src.get("ca_file", "") or "",
        "databases": pairs,
    }


def migrate_pg_conninfo(source: dict[str, Any], dbname: str, passfile: str) -> str:
    """A libpq connection string for one source database; the password stays in the passfile."""
    parts = {
        "host": source["host"], "port": source["port"], "user": source["user"], "dbname": dbname,
        "sslmode": source["sslmode"], "sslrootcert": source["sslrootcert"], "passfile": passfile,
        "connect_timeout": 10, "application_name": "hearth-migrate",
    }
    return " ".join(f"{key}={value}" for key, value in parts.items())


def migrate_seconds(result: Any) -> float:
    """Seconds a command task ran, from its registered start and end (0 when it was skipped)."""
    if not isinstance(result, dict) or not result.get("start") or not result.get("end"):
        return 0.0
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    return round((datetime.strptime(result["end"], fmt) - datetime.strptime(result["start"], fmt)).total_seconds(), 3)


def migrate_rclone_stats(log: Any) -> dict[str, Any]:
    """The final transfer statistics from rclone's JSON log (--use-json-log --stats ...).

    rclone prints its totals as a `stats` object on the last statistics line; a copy that did
    nothing prints zeros, and a log without the line (rclone stopped early) reads as zeros too,
    which the check that follows then catches.
    """
    stats: dict[str, Any] = {}
    for line in str(log or "").splitlines():
        line = line.strip()
        if not line.startswith("{") or '"stats"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry.get("stats"), dict):
            stats = entry["stats"]
    return {
        "transfers": int(stats.get("transfers", 0)),
        "bytes": int(stats.get("bytes", 0)),
        "checks": int(stats.get("checks", 0)),
        "errors": int(stats.get("errors", 0)),
        "seconds": round(float(stats.get("elapsedTime", 0.0)), 3),
    }


MATCHING = re.compile(r"(\d+) matching files")


def migrate_bucket_result(item: Any) -> dict[str, Any]:
    """One bucket's line in the report, from (copy stats, bucket entry, check result)."""
    stats, bucket, check = item
    found = MATCHING.search(str((check or {}).get("stderr", "")))
    seconds = stats["seconds"] or 0.0
    return {
        "bucket": bucket["name"],
        "target": bucket["target"],
        "copied_objects": stats["transfers"],
        "copied_bytes": stats["bytes"],
        "unchanged_objects": stats["checks"],
        "matching_objects": int(found.group(1)) if found else 0,
        "seconds": seconds,
        "objects_per_second": round(stats["transfers"] / seconds, 1) if seconds else 0.0,
        "mb_per_second": round(stats["bytes"] / seconds / 1e6, 2) if seconds else 0.0,
    }


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return {
            "migrate_postgres_source": migrate_postgres_source,
            "migrate_s3_source": migrate_s3_source,
            "migrate_redis_source": migrate_redis_source,
            "migrate_pg_conninfo": migrate_pg_conninfo,
            "migrate_seconds": migrate_seconds,
            "migrate_rclone_stats": migrate_rclone_stats,
            "migrate_bucket_result": migrate_bucket_result,
        }
