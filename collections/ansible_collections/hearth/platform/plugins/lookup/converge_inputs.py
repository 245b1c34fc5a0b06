# -*- coding: utf-8 -*-
# Copyright Hearth maintainers; Apache-2.0 (see LICENSE at the repository root).
"""Lookup plugin: a fingerprint of everything on the controller that decides what a converge does.

A no-change run of the whole platform may skip its hosts only when nothing it reads has changed
since the last full converge. What it reads on the controller is the project (playbooks, roles,
plugins, ansible.cfg), the inventory (hosts, group and host variables, vault files, generated
secrets), the extra variables and the Ansible version. This lookup hashes all of them.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
---
name: converge_inputs
author: Hearth maintainers
version_added: "1.0.0"
short_description: Fingerprint of the files, variables and versions a converge depends on
description:
  - Hashes every file under the given paths (directories recursively, following links) by
    relative name and content, the extra variables given on the command line (except the
    C(ansible_*) connection settings and C(converge_state_*), which change how a run reaches or
    treats a host, not what it converges), the Ansible version and O(data).
  - Returns one dict C({fingerprint, files, data}); C(files) maps each file, named by its path
    below the given path, to its content's SHA-256,
    so a later call can tell added files from changed ones (O(start)).
  - Skips version-control and cache directories (C(.git), C(__pycache__), C(.cache)) and
    compiled Python files.
options:
  _terms:
    description: Files and directories to hash. Relative ones are taken from the playbook's directory.
    required: true
    type: list
    elements: path
  data:
    description: Anything else the fingerprint must cover (JSON-serialisable), such as the host groups.
    type: raw
  start:
    description:
      - The result of this lookup taken at the start of the run. When given, the result is the
        current fingerprint only if the run merely added files (secrets generated on first use);
        if any file of O(start) changed or went away, or O(data) differs, the result is O(start)
        unchanged, so a converge never records inputs it did not read.
    type: dict
"""

EXAMPLES = r"""
- name: Fingerprint the project and the inventory
  ansible.builtin.set_fact:
    converge_inputs: "{{ lookup('hearth.platform.converge_inputs', ['roles', 'playbooks'] + ansible_inventory_sources, data=groups) }}"
"""

RETURN = r"""
_raw:
  description: One element, C({fingerprint, files, data}).
  type: list
  elements: dict
"""

SKIP_DIRS = frozenset({".git", "__pycache__", ".cache", ".pytest_cache", ".mypy_cache"})
SKIP_SUFFIXES = (".pyc", ".pyo", ".retry", ".swp")
IGNORED_EXTRA_VAR_PREFIXES = ("ansible_", "converge_state_")


def walk_files(root: str) -> Iterator[str]:
    """Every file under `root` (or `root` itself), sorted, without caches or compiled files."""
    if os.path.isfile(root):
        yield root
        return
    for directory, subdirs, files in os.walk(root, followlinks=True):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIP_DIRS)
        for name in sorted(files):
            if not name.endswith(SKIP_SUFFIXES):
                yield os.path.join(directory, name)


def file_digest(path: str) -> str:
    """SHA-256 of a file's content, or a marker for a file that cannot be read (a dangling link)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
    except OSError as err:
        return f"unreadable:{err.errno}"
    return digest.hexdigest()


def file_digests(paths: Iterable[str]) -> dict[str, str]:
    """{name: digest} for every file under the given paths; missing paths are recorded as absent.

    A file's name is its path below the given path, after the given path's position and last
    component (`2:lab/group_vars/all/main.yml`), so two checkouts in different directories of the
    same project and inventory agree.
    """
    found: dict[str, str] = {}
    for index, root in enumerate(paths):
        label = f"{index}:{os.path.basename(root.rstrip(os.sep)) or root}"
        if not os.path.exists(root):
            found[label] = "absent"
            continue
        for path in walk_files(root):
            relative = os.path.relpath(path, root)
            found[label if relative == "." else f"{label}/{relative}"] = file_digest(path)
    return found


def relevant_extra_vars(extra: Mapping[str, Any]) -> dict[str, Any]:
    """The extra variables that can change what a converge does (connection and skip settings dropped)."""
    return {k: v for k, v in extra.items() if not str(k).startswith(IGNORED_EXTRA_VAR_PREFIXES)}


def fingerprint(files: Mapping[str, str], data: Any) -> str:
    """One SHA-256 over the file digests and the other inputs, in a canonical order."""
    canonical = json.dumps({"files": dict(sorted(files.items())), "data": data},
                           sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def only_added(start: Mapping[str, str], now: Mapping[str, str]) -> bool:
    """True when every file of `start` is still there with the same content (new files allowed)."""
    return all(now.get(path) == digest for path, digest in start.items())


def settle(start: Mapping[str, Any] | None, now: Mapping[str, Any]) -> dict[str, Any]:
    """What a run may record: `now` when the run only added files to `start`'s inputs, else `start`."""
    if not start:
        return dict(now)
    if start.get("data") == now.get("data") and only_added(start.get("files") or {}, now.get("files") or {}):
        return dict(now)
    return dict(start)


class LookupModule(LookupBase):
    """``lookup('hearth.platform.converge_inputs', paths, data=..., start=...)``."""

    def run(self, terms: list[Any], variables: Mapping[str, Any] | None = None,
            **kwargs: Any) -> list[dict[str, Any]]:
        unknown = set(kwargs) - {"data", "start"}
        if unknown:
            raise AnsibleLookupError(f"converge_inputs takes data and start, got {', '.join(sorted(unknown))}")
        paths = [self._resolve(str(term)) for term in _flatten(terms)]
        if not paths:
            raise AnsibleLookupError("converge_inputs needs the files and directories to hash")
        start = kwargs.get("start")
        if start is not None and not isinstance(start, Mapping):
            raise AnsibleLookupError("converge_inputs: start must be an earlier result of this lookup (a dict)")
        data = {"data": kwargs.get("data"), "extra_vars": relevant_extra_vars(self._extra_vars()),
                "ansible": _ansible_version()}
        data = json.loads(json.dumps(data, sort_keys=True, default=str))
        files = file_digests(paths)
        now = {"fingerprint": fingerprint(files, data), "files": files, "data": data}
        return [settle(start, now)]

    def _resolve(self, path: str) -> str:
        """An absolute path: relative ones are taken from the playbook's directory."""
        if os.path.isabs(path) or self._loader is None:
            return os.path.normpath(path)
        return os.path.normpath(self._loader.path_dwim(path))

    def _extra_vars(self) -> dict[str, Any]:
        """The command line's extra variables, as Ansible loads them (files and vault included)."""
        if self._loader is None:
            return {}
        from ansible.utils.vars import load_extra_vars
        return dict(load_extra_vars(self._loader))


def _flatten(terms: Iterable[Any]) -> Iterator[Any]:
    """Terms may arrive as one list or several; paths are strings."""
    for term in terms:
        if isinstance(term, (list, tuple)):
            yield from _flatten(term)
        else:
            yield term


def _ansible_version() -> str:
    """ansible-core's version and, when installed, the ansible package's (its bundled collections)."""
    from ansible.release import __version__ as core
    try:
        from importlib.metadata import version
        bundle = version("ansible")
    except Exception:  # noqa: BLE001 - ansible-core alone is a supported install
        bundle = ""
    return f"{core}/{bundle}"
