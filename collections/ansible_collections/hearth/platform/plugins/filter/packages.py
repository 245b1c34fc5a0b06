"""Which of a task's apt packages are not installed yet, from one package probe per host and run.

Every role installs its packages with an apt task of its own. On a run that changes nothing,
each such task still starts apt, which reads its whole cache before it finds nothing to do
(about a second each). The ``hearth`` role reads the installed packages once per host and run
(``hearth_installed_packages``); an apt task then runs only when
``hearth_missing_packages`` names something. When there is no probe from this run (a role run
without the ``hearth`` role, or ``hearth_package_probe: false``), every package counts as
missing, so apt decides as before.
"""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

# name, an optional :arch, and an optional =version (apt accepts a trailing * in the version).
SPEC_RE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9+.-]+)(?::[a-z0-9-]+)?(?:=(?P<version>[^=<>\s]+))?$")


def _specs(wanted: Any, variable: str) -> list[str]:
    """The package specs as a list of strings; the error names the variable."""
    if isinstance(wanted, str):
        return [wanted]
    if isinstance(wanted, (list, tuple)) and all(isinstance(item, str) for item in wanted):
        return list(wanted)
    raise AnsibleFilterError(f"{variable}: expected a package name or a list of package names, got {wanted!r}")


def _installed(spec: str, installed: Mapping[str, Any]) -> bool:
    """Whether one apt spec is satisfied by the probe; anything apt alone can judge counts as not."""
    match = SPEC_RE.match(spec)
    if match is None or match.group("name") not in installed:
        return False
    version = match.group("version")
    if version is None:
        return True
    versions = [str(entry.get("version", "")) for entry in installed[match.group("name")] or []
                if isinstance(entry, Mapping)]
    return any(fnmatch.fnmatchcase(found, version) for found in versions)


def hearth_missing_packages(wanted: Any, installed: Any = None, variable: str = "packages") -> list[str]:
    """The specs in `wanted` that the probe `installed` does not show as installed.

    `installed` is package_facts' ``packages`` (name to a list of installed versions) or None
    when no probe ran this run, in which case every spec is returned. A spec with a version
    (``grafana=12.1.1``, ``caddy=2.10*``) needs that version installed; other forms apt
    understands (``>=``, wildcards in the name) are always returned, so apt judges them.
    """
    specs = _specs(wanted, variable)
    if installed is None:
        return specs
    if not isinstance(installed, Mapping):
        raise AnsibleFilterError(f"hearth_installed_packages: expected package_facts' packages mapping, "
                                 f"got {type(installed).__name__}")
    return [spec for spec in specs if not _installed(spec, installed)]


class FilterModule:
    """Package probe filters."""

    def filters(self) -> dict[str, Any]:
        return {"hearth_missing_packages": hearth_missing_packages}
