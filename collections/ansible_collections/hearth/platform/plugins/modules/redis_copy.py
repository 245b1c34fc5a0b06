#!/usr/bin/python
"""Copy every key of a Redis (ElastiCache) into another with SCAN, DUMP and RESTORE.

ElastiCache disables SYNC, PSYNC, MIGRATE, CONFIG, BGSAVE and DEBUG, so neither replication
nor an RDB file is available: the keys are read one batch at a time with SCAN, serialised with
DUMP (with their remaining PTTL) and written with RESTORE ... REPLACE. A key whose serialised
value and expiry already match on the target is left alone, so a second run copies nothing.
"""
from __future__ import annotations

import time
from typing import Any, Iterable

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: redis_copy
short_description: Copy Redis keys with their TTLs using SCAN, DUMP and RESTORE
description:
  - Re-runnable, since keys whose DUMP payload and expiry already match on the target are skipped.
  - Works against servers that disable replication and administrative commands (ElastiCache).
  - The target must run the same or a newer Redis than the source (RESTORE checks the RDB version).
  - Supports check mode (counts what would be copied).
options:
  source:
    description: Source server (host, port, user, password, tls, ca_file).
    type: dict
    required: true
  target:
    description: Target server (host, port, user, password, tls, ca_file).
    type: dict
    required: true
  databases:
    description: Pairs of source and target database numbers.
    type: list
    elements: dict
    required: true
  batch:
    description: Keys per SCAN step and per pipeline.
    type: int
    default: 500
requirements: [redis (python3-redis)]
author: Hearth
"""

EXAMPLES = r"""
- name: Copy ElastiCache's database 0 into this host's database 0
  hearth.platform.redis_copy:
    source: {host: master.app.abc123.euw1.cache.amazonaws.com, tls: true, password: "{{ vault_migrate_elasticache_token }}"}
    target: {host: 127.0.0.1, user: admin, password: "{{ redis_admin_password }}"}
    databases: [{source: 0, target: 0}]
"""

RETURN = r"""
databases:
  description: Per pair, keys scanned, copied, already equal, expired while copying, missing after.
  type: list
  returned: always
keys_per_second:
  description: Keys scanned per second over the whole copy.
  type: float
  returned: always
"""

SERVER_OPTIONS = dict(
    host=dict(type="str", required=True),
    port=dict(type="int", default=6379),
    user=dict(type="str", default=""),
    password=dict(type="str", default="", no_log=True),
    tls=dict(type="bool", default=False),
    ca_file=dict(type="str", default=""),
)


def chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    """Split a list into consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def needs_copy(src_dump: bytes | None, src_ttl: int, dst_dump: bytes | None, dst_ttl: int) -> bool:
    """Whether a key must be (re)written on the target.

    Equal payloads with the same kind of expiry (none, or some) are left alone: the remaining
    TTL counts down on both sides, so comparing its value would copy every volatile key again.
    """
    if src_dump is None:
        return False
    if dst_dump != src_dump:
        return True
    return (src_ttl > 0) != (dst_ttl > 0)


def restore_ttl(pttl: int) -> int:
    """RESTORE's TTL argument from the source's PTTL: 0 keeps the key without expiry."""
    return pttl if pttl > 0 else 0


def copy_batch(src: Any, dst: Any, keys: list[bytes], check: bool) -> dict[str, int]:
    """Copy one batch of keys; returns counts for the report."""
    counts = {"scanned": len(keys), "copied": 0, "equal": 0, "expired": 0}
    pipe = src.pipeline(transaction=False)
    for key in keys:
        pipe.dump(key)
        pipe.pttl(key)
    answers = pipe.execute()
    pipe = dst.pipeline(transaction=False)
    for key in keys:
        pipe.dump(key)
        pipe.pttl(key)
    dst_answers = pipe.execute()
    writes = dst.pipeline(transaction=False)
    for index, key in enumerate(keys):
        src_dump, src_ttl = answers[2 * index], answers[2 * index + 1]
        dst_dump, dst_ttl = dst_answers[2 * index], dst_answers[2 * index + 1]
        if src_dump is None or src_ttl == -2:
            counts["expired"] += 1
        elif needs_copy(src_dump, src_ttl, dst_dump, dst_ttl):
            counts["copied"] += 1
            if not check:
                writes.restore(key, restore_ttl(src_ttl), src_dump, replace=True)
        else:
            counts["equal"] += 1
    if not check and counts["copied"]:
        writes.execute()
    return counts


def copy_database(src: Any, dst: Any, batch: int, check: bool) -> dict[str, int]:
    """SCAN the source database and copy it batch by batch, then count what is missing."""
    totals = {"scanned": 0, "copied": 0, "equal": 0, "expired": 0, "missing": 0}
    cursor = 0
    while True:
        cursor, keys = src.scan(cursor=cursor, count=batch)
        if keys:
            counts = copy_batch(src, dst, list(keys), check)
            for name, value in counts.items():
                totals[name] += value
            if not check:
                pipe = dst.pipeline(transaction=False)
                for key in keys:
                    pipe.exists(key)
                present = pipe.execute()
                src_pipe = src.pipeline(transaction=False)
                for key in keys:
                    src_pipe.exists(key)
                still = src_pipe.execute()
                totals["missing"] += sum(1 for p, s in zip(present, still) if s and not p)
        if cursor == 0:
            break
    totals["source_keys"] = src.dbsize()
    totals["target_keys"] = dst.dbsize()
    return totals


def connect(redis_module: Any, server: dict[str, Any], db: int) -> Any:
    """A client for one server and database (TLS verified against ca_file when given)."""
    options: dict[str, Any] = dict(host=server["host"], port=server["port"], db=db, socket_timeout=30)
    if server.get("user"):
        options["username"] = server["user"]
    if server.get("password"):
        options["password"] = server["password"]
    if server.get("tls"):
        options["ssl"] = True
        options["ssl_cert_reqs"] = "required"
        if server.get("ca_file"):
            options["ssl_ca_certs"] = server["ca_file"]
    return redis_module.Redis(**options)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="dict", required=True, options=SERVER_OPTIONS),
            target=dict(type="dict", required=True, options=SERVER_OPTIONS),
            databases=dict(type="list", elements="dict", required=True, options=dict(
                source=dict(type="int", required=True), target=dict(type="int", required=True))),
            batch=dict(type="int", default=500),
        ),
        supports_check_mode=True,
    )
    try:
        import redis  # noqa: PLC0415 (host dependency, imported where the module runs)
    except ImportError:
        module.fail_json(msg="redis_copy needs the Python redis client on the host (python3-redis)")
    params = module.params
    results = []
    started = time.monotonic()
    for pair in params["databases"]:
        try:
            src = connect(redis, params["source"], pair["source"])
            dst = connect(redis, params["target"], pair["target"])
            src.ping()
            dst.ping()
            counts = copy_database(src, dst, params["batch"], module.check_mode)
        except redis.exceptions.RedisError as exc:
            module.fail_json(msg=f"copying Redis database {pair['source']} to {pair['target']} failed: {exc}",
                             databases=results)
        results.append(dict(counts, source_db=pair["source"], target_db=pair["target"]))
    elapsed = max(time.monotonic() - started, 1e-6)
    scanned = sum(r["scanned"] for r in results)
    missing = sum(r["missing"] for r in results)
    if missing:
        module.fail_json(msg=f"{missing} keys present on the source are missing on the target after the copy",
                         databases=results)
    module.exit_json(changed=any(r["copied"] for r in results), databases=results,
                     keys_per_second=round(scanned / elapsed, 1), seconds=round(elapsed, 3))


if __name__ == "__main__":
    main()
