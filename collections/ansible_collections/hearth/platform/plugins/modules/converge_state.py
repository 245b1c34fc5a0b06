#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright Hearth maintainers; Apache-2.0 (see LICENSE at the repository root).
"""Record a host's state after a full converge, and tell later whether it still holds."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: converge_state
short_description: Record a full converge on a host, and find what has drifted since
version_added: "1.0.0"
author: Hearth maintainers
description:
  - "With O(record=false) (the probe): reads the record of the last full converge and compares
    the host with it. Drift is: a file under O(watch) modified after the record was written, a
    service that ran then and does not now, a container that ran then and does not now, a package
    installed or removed (the package database changed), or a different machine (CPU count,
    memory, kernel, boot, GPU devices). Returns the recorded fingerprint and the drift, and never
    changes anything."
  - "With O(record=true): writes the record (O(fingerprint) and the host's state now) at the end
    of a full converge; its time is what later probes compare file times with. The record is
    bookkeeping, like Ansible's fact cache: writing it never reports a change, so a converge that
    changed nothing else stays unchanged. In check mode it writes nothing."
  - The record is a JSON file readable by root only; it names services and containers, never secrets.
options:
  path:
    description: The record file.
    type: path
    default: /var/lib/hearth/converged.json
  record:
    description: Write the record (true) or compare the host with it (false).
    type: bool
    default: false
  fingerprint:
    description: The inputs' fingerprint to record (required with O(record=true)).
    type: str
  watch:
    description: Directories whose files the converge manages; a file modified after the record is drift.
    type: list
    elements: path
    default: [/etc, /usr/local, /opt]
  max_reported:
    description: At most this many drifted files are named.
    type: int
    default: 5
"""

EXAMPLES = r"""
- name: Compare the host with its last full converge
  hearth.platform.converge_state:
  register: probe

- name: Record a full converge
  hearth.platform.converge_state:
    record: true
    fingerprint: "{{ inputs.fingerprint }}"
"""

RETURN = r"""
recorded:
  description: Whether a record exists.
  type: bool
  returned: always
fingerprint:
  description: The recorded fingerprint ('' when there is no record).
  type: str
  returned: always
recorded_at:
  description: When the record was written (ISO 8601, UTC), or ''.
  type: str
  returned: always
drift:
  description: What changed on the host since the record, one sentence each (empty when nothing did).
  type: list
  elements: str
  returned: always
"""

import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from glob import glob
from typing import Any

from ansible.module_utils.basic import AnsibleModule

PACKAGE_DATABASES = ("/var/lib/dpkg/status", "/var/lib/rpm/rpmdb.sqlite")


def newer_files(roots: Iterable[str], since: float, limit: int) -> list[str]:
    """Up to `limit` files under `roots` modified after `since`, on the root's own filesystem only.

    Files on other filesystems (a container's bind-mounted /etc/hosts, a mounted volume) are
    skipped: they are not what a converge writes, and their times say nothing about it.
    """
    found: list[str] = []
    for root in roots:
        try:
            device = os.lstat(root).st_dev
        except OSError:
            continue
        for path in _walk(root, device):
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if info.st_dev == device and max(info.st_mtime, info.st_ctime) > since:
                found.append(path)
                if len(found) >= limit:
                    return found
    return found


def _walk(root: str, device: int) -> Iterator[str]:
    """Every entry below `root` that lies on `device`, without following links."""
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            yield entry.path
            try:
                if entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_dev == device:
                    stack.append(entry.path)
            except OSError:
                continue


def machine() -> dict[str, Any]:
    """What the roles derive settings from and what a reboot or resize changes."""
    memory = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            memory = next((line.split()[1] for line in handle if line.startswith("MemTotal:")), "")
    except OSError:
        pass
    boot = ""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "memory_kb": memory, "kernel": os.uname().release, "boot": boot,
            "gpus": sorted(glob("/dev/nvidia[0-9]*"))}


def package_database() -> str:
    """The package database's modification time: any install, upgrade or removal changes it."""
    for path in PACKAGE_DATABASES:
        try:
            return f"{path}@{os.stat(path).st_mtime_ns}"
        except OSError:
            continue
    return ""


def running_services(run: Any) -> list[str]:
    """Long-running services that systemd reports as running now."""
    rc, out, _ = run(["systemctl", "list-units", "--type=service", "--state=running", "--no-legend", "--plain"])
    if rc != 0:
        return []
    return sorted(line.split()[0] for line in out.splitlines() if line.strip())


def running_containers(run: Any) -> list[str]:
    """Names of the running Docker containers, when this host runs Docker."""
    if not os.path.exists("/run/docker.sock"):
        return []
    rc, out, _ = run(["docker", "ps", "--format", "{{.Names}}"])
    return sorted(out.split()) if rc == 0 else []


def host_state(run: Any) -> dict[str, Any]:
    """Everything a probe compares with the record, apart from file times."""
    return {"machine": machine(), "packages": package_database(),
            "services": running_services(run), "containers": running_containers(run)}


def drift(record: Mapping[str, Any], now: Mapping[str, Any], changed_files: list[str], limit: int) -> list[str]:
    """Each way the host differs from its record, as a sentence (empty when none does)."""
    found: list[str] = []
    then = record.get("state") or {}
    if changed_files:
        more = " (and more)" if len(changed_files) >= limit else ""
        found.append("modified since the last converge: " + ", ".join(changed_files) + more)
    if then.get("machine") != now["machine"]:
        keys = sorted(k for k in now["machine"] if (then.get("machine") or {}).get(k) != now["machine"][k])
        found.append("the machine changed (" + ", ".join(keys) + ")")
    if then.get("packages") != now["packages"]:
        found.append("packages were installed, upgraded or removed")
    stopped = sorted(set(then.get("services") or []) - set(now["services"]))
    if stopped:
        found.append("services no longer running: " + ", ".join(stopped))
    gone = sorted(set(then.get("containers") or []) - set(now["containers"]))
    if gone:
        found.append("containers no longer running: " + ", ".join(gone))
    return found


def read_record(path: str) -> dict[str, Any] | None:
    """The record, or None when there is none or it cannot be read as one."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_record(path: str, content: Mapping[str, Any]) -> None:
    """Replace the record atomically, readable by root only."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".converged.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/var/lib/hearth/converged.json"},
            "record": {"type": "bool", "default": False},
            "fingerprint": {"type": "str"},
            "watch": {"type": "list", "elements": "path", "default": ["/etc", "/usr/local", "/opt"]},
            "max_reported": {"type": "int", "default": 5},
        },
        required_if=[("record", True, ["fingerprint"])],
        supports_check_mode=True,
    )
    params = module.params
    record = read_record(params["path"])

    def run(argv: list[str]) -> tuple[int, str, str]:
        try:
            return module.run_command(argv, environ_update={"LC_ALL": "C", "SYSTEMD_PAGER": ""})
        except (OSError, subprocess.SubprocessError):
            return 1, "", ""

    # The host's state is read only where it is used: for the record, and for a probe that has one.
    result: dict[str, Any] = {
        "changed": False,
        "recorded": record is not None,
        "fingerprint": (record or {}).get("fingerprint", ""),
        "recorded_at": (record or {}).get("recorded_at", ""),
        "drift": [],
    }
    if params["record"]:
        if not module.check_mode:
            write_record(params["path"], {
                "fingerprint": params["fingerprint"],
                "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "state": host_state(run),
            })
        module.exit_json(**result)
    if record is not None:
        since = os.stat(params["path"]).st_mtime
        changed = newer_files(params["watch"], since, params["max_reported"])
        result["drift"] = drift(record, host_state(run), changed, params["max_reported"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
