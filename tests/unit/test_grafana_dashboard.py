"""Static checks of the Grafana overview dashboard the monitoring role provisions.

Grafana itself cannot run here (its apt repository is out of reach), and the platform scenario
runs every panel's query against a live Prometheus. What neither of those sees is the dashboard's
own shape: every panel and query must name the data source the role provisions (by uid, so a
renamed data source cannot silently leave panels empty), ids must be unique, panels must fit
Grafana's 24-column grid without overlapping, and queries may use no template variable that the
dashboard does not define.
"""
from __future__ import annotations

import json
import re
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "roles" / "monitoring" / "files" / "dashboards" / "hearth-overview.json"
ROLE_VARS = ROOT / "roles" / "monitoring" / "vars" / "main.yml"
# Grafana's own variables that need no definition in the dashboard.
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range"}


def load_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def provisioned_uid() -> str:
    """The uid of the data source the role provisions (vars/main.yml)."""
    role_vars = yaml.safe_load(ROLE_VARS.read_text())
    sources = role_vars["__monitoring_grafana_datasource"]["datasources"]
    assert len(sources) == 1
    return str(sources[0]["uid"])


def variables(expr: str) -> set[str]:
    """Template variables ($name or ${name}) an expression uses."""
    return {m.group(1) or m.group(2) for m in re.finditer(r"\$\{(\w+)\}|\$(\w+)", expr)}


def overlaps(a: dict[str, int], b: dict[str, int]) -> bool:
    """Whether two grid positions share any cell."""
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


PANELS = load_dashboard()["panels"]


def test_the_dashboard_has_a_fixed_uid_and_is_read_only() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "hearth-overview"
    assert dashboard["editable"] is False


def test_panel_ids_are_unique() -> None:
    ids = [panel["id"] for panel in PANELS]
    assert len(ids) == len(set(ids)), ids


@pytest.mark.parametrize("panel", PANELS, ids=[p["title"] for p in PANELS])
def test_every_panel_and_query_uses_the_provisioned_data_source(panel: dict[str, Any]) -> None:
    uid = provisioned_uid()
    assert panel["datasource"] == {"type": "prometheus", "uid": uid}
    assert panel["targets"], f"{panel['title']} has no query"
    for target in panel["targets"]:
        assert target["datasource"]["uid"] == uid
        assert target["expr"].strip(), f"{panel['title']} has an empty query"


@pytest.mark.parametrize("panel", PANELS, ids=[p["title"] for p in PANELS])
def test_queries_use_only_defined_variables(panel: dict[str, Any]) -> None:
    defined = {v["name"] for v in load_dashboard()["templating"]["list"]} | BUILTIN_VARIABLES
    for target in panel["targets"]:
        assert variables(target["expr"]) <= defined, target["expr"]


def test_panels_fit_the_grid_without_overlapping() -> None:
    for panel in PANELS:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
    for a, b in combinations(PANELS, 2):
        assert not overlaps(a["gridPos"], b["gridPos"]), f"{a['title']} overlaps {b['title']}"


def test_the_checks_catch_what_they_claim() -> None:
    assert variables("rate(x[$__rate_interval]) + ${host}") == {"__rate_interval", "host"}
    assert overlaps({"x": 0, "y": 0, "w": 12, "h": 8}, {"x": 6, "y": 4, "w": 12, "h": 8})
    assert not overlaps({"x": 0, "y": 0, "w": 12, "h": 8}, {"x": 12, "y": 0, "w": 12, "h": 8})
