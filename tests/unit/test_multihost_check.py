"""tests/apps/multihost.py: how it tells which lab hosts answered, and when a step fails."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "tests" / "apps" / "multihost.py"
_SPEC = importlib.util.spec_from_file_location("multihost", _PATH)
assert _SPEC and _SPEC.loader
multihost = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(multihost)

NAMES = {"hearth-lab-1": {"web-a0-1", "web-b0-2"}, "hearth-lab-2": {"web-a0-3"}}


def test_hosts_that_answered_maps_app_hostnames_to_lab_hosts() -> None:
    both = {"served_by": {"web-a0-1": 10, "web-a0-3": 4}}
    assert multihost.hosts_that_answered(both, NAMES) == {"hearth-lab-1", "hearth-lab-2"}
    one = {"served_by": {"web-b0-2": 10, "somewhere-else": 1}}
    assert multihost.hosts_that_answered(one, NAMES) == {"hearth-lab-1"}
    assert multihost.hosts_that_answered({}, NAMES) == set()


def test_a_failed_request_or_no_request_fails_the_step() -> None:
    multihost.no_failed_requests("ok", {"failed": 0, "requests": 5, "failures": []})
    with pytest.raises(multihost.CheckFailed, match="deploy v2: 1 of 5 requests failed"):
        multihost.no_failed_requests("deploy v2", {"failed": 1, "requests": 5, "failures": ["HTTP 502"]})
    with pytest.raises(multihost.CheckFailed, match="sent no request"):
        multihost.no_failed_requests("idle", {"failed": 0, "requests": 0, "failures": []})


def test_the_inventory_adds_only_an_apps_host_to_the_lab() -> None:
    import yaml

    root = _PATH.parents[2]
    lab = yaml.safe_load((root / "inventories" / "lab" / "hosts.yml").read_text())["all"]["children"]
    two = yaml.safe_load((_PATH.parent / "multihost" / "hosts.yml").read_text())["all"]["children"]
    assert set(two) == set(lab)
    for group, body in two.items():
        added = set(body.get("hosts") or {}) - set(lab[group].get("hosts") or {})
        assert added == ({"hearth-lab-2"} if group in ("apps", "refapp") else set()), group
    assert (_PATH.parent / "multihost" / "group_vars").resolve() == (root / "inventories" / "lab" / "group_vars")
