"""What must hold on every converged host, whatever its groups: checked on the host itself.

- Nothing but sshd and Caddy listens beyond loopback and the host's private address.
- Every secret file the roles write has its service's owner and group and no looser mode.
- No secret value (from the host's own secret files, or from HEARTH_SECRETS_FILE) is in the journal.

Run with testinfra against an inventory (see conftest.py); nothing here is parametrised by host.
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from host_checks import (
    SECRET_FILES,
    FileStat,
    RunAsRoot,
    default_interface,
    interface_addresses,
    journal_chunks,
    leaked_sources,
    offending_listeners,
    parse_passwd,
    parse_ss,
    parse_stat,
    private_addresses,
    secret_file_problems,
    secret_values,
    secrets_from_controller,
)

STAT_FORMAT = "%U|%G|%a|%F|%n"


@contextlib.contextmanager
def unlogged() -> Iterator[None]:
    """Keep testinfra from logging command results (which would carry secret values) meanwhile."""
    logger = logging.getLogger("testinfra")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@pytest.fixture(scope="module")
def installed_units(host: Any) -> set[str]:
    """The units from the secret-file table that exist on the host (installed by their role)."""
    units = sorted({spec.unit for spec in SECRET_FILES if spec.unit})
    listing = host.run("systemctl list-unit-files --no-legend --no-pager " + " ".join(units))
    return {line.split()[0] for line in listing.stdout.splitlines() if line.split()}


def stat_paths(as_root: RunAsRoot, pattern: str) -> list[FileStat]:
    """Owner, group and mode of every existing path a pattern (a path or a glob) names."""
    result = as_root('for f in ' + pattern + '; do [ -e "$f" ] && stat -c %s "$f"; done; true', STAT_FORMAT)
    return parse_stat(result.stdout)


def test_only_sshd_and_caddy_listen_beyond_loopback_and_the_private_address(
        host: Any, as_root: RunAsRoot, network_vars: dict[str, Any]) -> None:
    sockets = as_root("ss -Hltnupe")
    assert sockets.rc == 0, f"ss failed: {sockets.stderr}"
    interface = default_interface(host.run("ip -4 -o route show default").stdout)
    candidates = interface_addresses(host.run("ip -4 -o addr show dev %s", interface).stdout) if interface else []
    private = private_addresses(network_vars.get("hearth_private_ip"), candidates,
                                network_vars.get("hearth_private_networks"))
    users = parse_passwd(host.run("getent passwd").stdout)
    offending = [s.describe() for s in offending_listeners(parse_ss(sockets.stdout), private, users=users)]
    allowed = ", ".join(sorted(private)) or "none found"
    assert not offending, (f"listening beyond loopback and the private address ({allowed}), "
                           "which only sshd and caddy may:\n  " + "\n  ".join(offending))


def test_secret_files_have_their_service_owner_and_no_looser_mode(
        as_root: RunAsRoot, installed_units: set[str]) -> None:
    problems: list[str] = []
    checked = 0
    for spec in SECRET_FILES:
        if spec.unit is not None and spec.unit not in installed_units:
            continue
        stats = stat_paths(as_root, spec.pattern)
        if not stats and spec.required:
            problems.append(f"{spec.pattern}: missing, though {spec.unit} is installed")
        for stat in stats:
            checked += 1
            problems.extend(secret_file_problems(spec, stat))
    assert not problems, "secret files with the wrong owner or a looser mode:\n  " + "\n  ".join(problems)
    if not checked:
        pytest.skip("no secret files on this host")


def host_secrets(as_root: RunAsRoot, installed_units: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Secret values held in clear in the host's own secret files (path -> values), and read errors."""
    found: dict[str, list[str]] = {}
    errors: list[str] = []
    for spec in SECRET_FILES:
        if not spec.values or (spec.unit is not None and spec.unit not in installed_units):
            continue
        for stat in stat_paths(as_root, spec.pattern):
            if stat.kind != "regular file":
                continue
            with unlogged():
                content = as_root("cat -- %s", stat.path)
            if content.rc != 0:
                errors.append(f"{stat.path}: {content.stderr.strip()}")
                continue
            values = secret_values(spec.values, content.stdout)
            if values:
                found[stat.path] = values
    return found, errors


def test_no_secret_value_appears_in_the_journal(host: Any, as_root: RunAsRoot, installed_units: set[str]) -> None:
    if host.run("command -v journalctl").rc != 0:
        pytest.skip("no journal on this host")
    secrets, errors = host_secrets(as_root, installed_units)
    assert not errors, "cannot read secret files:\n  " + "\n  ".join(errors)
    controller_file = os.environ.get("HEARTH_SECRETS_FILE")
    if controller_file:
        secrets.update(secrets_from_controller(Path(controller_file)))
    if not secrets:
        pytest.skip("no secret values to look for (none on the host, HEARTH_SECRETS_FILE not set)")
    with unlogged():
        journal = as_root("if command -v gzip >/dev/null; then journalctl --no-pager -o cat | gzip -c; "
                          "else journalctl --no-pager -o cat; fi")
    assert journal.rc == 0, f"cannot read the journal: {journal.stderr}"
    leaked = leaked_sources(journal_chunks(journal.stdout_bytes), secrets)
    assert not leaked, ("the journal holds secret values from (values not shown):\n  " + "\n  ".join(leaked))
