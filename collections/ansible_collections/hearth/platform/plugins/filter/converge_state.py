"""Why a host must be converged, from its probe against the last full converge.

site.yml may skip every host only when none has a reason to converge: each host's probe
(``hearth.platform.converge_state``) found its record with this run's fingerprint and no drift.
The reasons are sentences, shown to the user so that a skipped or a full run explains itself.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def converge_reasons(probe: Any, fingerprint: Any) -> list[str]:
    """The reasons this host must converge (empty: it may be skipped).

    `probe` is the registered result of the converge_state module (its probe), `fingerprint`
    the fingerprint of this run's inputs (``hearth.platform.converge_inputs``).
    """
    if not isinstance(fingerprint, str) or not fingerprint:
        raise AnsibleFilterError(f"converge_reasons: expected this run's fingerprint (a string), got {fingerprint!r}")
    if not isinstance(probe, Mapping):
        raise AnsibleFilterError(f"converge_reasons: expected the converge_state probe's result, got {type(probe).__name__}")
    if probe.get("failed") or "recorded" not in probe:
        return [f"the probe of the last converge failed: {probe.get('msg', 'no result')}"]
    if not probe["recorded"]:
        return ["no full converge is recorded on this host"]
    reasons = []
    if probe.get("fingerprint") != fingerprint:
        reasons.append("the project, the inventory, the extra variables or Ansible changed since the last full converge")
    reasons.extend(str(item) for item in probe.get("drift") or [])
    return reasons


def converge_unchanged(probes: Any, fingerprint: Any) -> bool:
    """True when no host of `probes` (their probe results, one per host) has a reason to converge."""
    if not isinstance(probes, (list, tuple)):
        raise AnsibleFilterError(f"converge_unchanged: expected a list of probe results, got {type(probes).__name__}")
    return len(probes) > 0 and all(not converge_reasons(probe, fingerprint) for probe in probes)


class FilterModule:
    """Converge state filters."""

    def filters(self) -> dict[str, Any]:
        return {"converge_reasons": converge_reasons, "converge_unchanged": converge_unchanged}
