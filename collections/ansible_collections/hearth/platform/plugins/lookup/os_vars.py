# -*- coding: utf-8 -*-
# Copyright Hearth maintainers; Apache-2.0 (see LICENSE at the repository root).
"""Lookup plugin: the operating-system vars file a role loads, by one chain shared by every role."""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

DOCUMENTATION = r"""
---
name: os_vars
author: Hearth maintainers
version_added: "1.0.0"
short_description: The vars file for the host's operating system in a role's vars directory
description:
  - Returns the path of the first file that exists in the given vars directory, trying in
    order C(<distribution>-<major version>.yml) (for example C(Debian-13.yml)),
    C(<distribution>.yml) (C(Ubuntu.yml)), C(<os_family>.yml) (C(Debian.yml)) and
    C(default.yml).
  - Every Hearth role that keeps operating-system differences in C(vars/) loads them with
    this lookup, so all roles fall back the same way.
  - Reads the host's C(ansible_facts) (C(distribution), C(distribution_major_version),
    C(os_family)); the C(min) gather subset provides them. It fails when they are missing
    rather than guess a file.
  - Fails, naming the distribution and the files tried, when none of them exists.
options:
  _terms:
    description:
      - The vars directory to search, normally C(role_path ~ '/vars'). With several
        directories each file name is looked for in all of them before the next name.
      - A relative directory is taken relative to the playbook (or role) being run.
    required: true
    type: list
    elements: path
notes:
  - Use the result with M(ansible.builtin.include_vars).
seealso:
  - plugin: ansible.builtin.first_found
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Load the settings for this operating system
  ansible.builtin.include_vars: "{{ lookup('hearth.platform.os_vars', role_path ~ '/vars') }}"

- name: Show which file a Ubuntu 24.04 host would get
  ansible.builtin.debug:
    msg: "{{ lookup('hearth.platform.os_vars', 'roles/redis/vars') }}"
"""

RETURN = r"""
_raw:
  description:
    - One element, the absolute path of the first vars file found.
  type: list
  elements: path
"""

display = Display()

FACT_KEYS = ("distribution", "distribution_major_version", "os_family")


def host_facts(variables: Mapping[str, Any]) -> dict[str, str]:
    """The three facts the chain needs, from ``ansible_facts`` or the injected ``ansible_*`` names."""
    facts = variables.get("ansible_facts") or {}
    found: dict[str, str] = {}
    for key in FACT_KEYS:
        value = facts.get(key) if isinstance(facts, Mapping) else None
        if value in (None, ""):
            value = variables.get(f"ansible_{key}")
        found[key] = "" if value is None else str(value)
    return found


def candidate_names(facts: Mapping[str, str]) -> list[str]:
    """File names to try, most specific first, without repeats (Debian's family is Debian)."""
    distribution = facts.get("distribution", "")
    major = facts.get("distribution_major_version", "")
    family = facts.get("os_family", "")
    names: list[str] = []
    if distribution and major:
        names.append(f"{distribution}-{major}.yml")
    if distribution:
        names.append(f"{distribution}.yml")
    if family:
        names.append(f"{family}.yml")
    names.append("default.yml")
    return list(dict.fromkeys(names))


def first_existing(directories: Iterable[str], names: Iterable[str]) -> str | None:
    """The first ``<directory>/<name>`` that is a file, names varying slowest."""
    dirs = list(directories)
    for name in names:
        for directory in dirs:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                return path
    return None


class LookupModule(LookupBase):
    """``lookup('hearth.platform.os_vars', role_path ~ '/vars')``: the host's OS vars file."""

    def run(self, terms: list[Any], variables: Mapping[str, Any] | None = None,
            **kwargs: Any) -> list[str]:
        if kwargs:
            raise AnsibleLookupError(f"os_vars takes no options, got {', '.join(sorted(kwargs))}")
        if not terms:
            raise AnsibleLookupError("os_vars needs a vars directory, e.g. role_path ~ '/vars'")
        directories = [self._resolve(str(term)) for term in terms]
        facts = host_facts(variables or {})
        if not facts["distribution"] and not facts["os_family"]:
            raise AnsibleLookupError(
                "os_vars needs the host's facts (distribution, distribution_major_version, "
                "os_family) to choose a file in " + ", ".join(directories)
                + "; gather facts first (gather_facts: true or ansible.builtin.setup "
                  "with gather_subset: [min])")
        names = candidate_names(facts)
        path = first_existing(directories, names)
        if path is None:
            raise AnsibleLookupError(
                f"no vars file for distribution {facts['distribution'] or '(unknown)'} "
                f"{facts['distribution_major_version'] or '(no major version)'} "
                f"(os_family {facts['os_family'] or '(unknown)'}) in {', '.join(directories)}: "
                f"tried {', '.join(names)}")
        display.vvvv(f"os_vars: {path}")
        return [path]

    def _resolve(self, directory: str) -> str:
        """An absolute directory: relative ones are taken from the playbook's directory."""
        if os.path.isabs(directory) or self._loader is None:
            return directory
        return self._loader.path_dwim(directory)
