"""Static checks of the monitoring role's Prometheus alert rules and their promtool unit tests.

The rules under ``roles/monitoring/files/rules/`` are copied to Prometheus as they are; promtool
(``promtool check rules`` / ``promtool test rules``) proves that they evaluate as intended, but it
is not installed everywhere the unit tests run. These checks need only PyYAML and hold the
conventions promtool cannot: every alert says how urgent it is (``severity``), what it means and
what to do first (``summary``, ``description``, ``runbook``); names are unique; and every alert has
a promtool test where it fires, with its labels and annotations checked, and one where it stays
quiet, so a rule nobody tested cannot land.
"""
from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "roles" / "monitoring" / "files"
RULES_DIR = FILES / "rules"
TESTS_DIR = FILES / "rules-tests"

# One rule file per concern; the Prometheus configuration loads them all.
RULE_FILES = ("hosts", "postgres", "redis", "backups", "certificates", "gpu", "llm", "apps", "platform")

MARKER = "# Managed by Hearth (roles/monitoring); edits here are overwritten."
SEVERITIES = {"page", "ticket"}
ANNOTATIONS = ("summary", "description", "runbook")
CAMEL_CASE = re.compile(r"^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$")
# Prometheus durations as rule files use them: 30s, 5m, 1h, 1h30m.
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")

# Alerts without `for`: each one is about an event counted over a window (a counter's increase,
# a change, or a count that only a driver reload resets). The window already keeps the alert
# firing for its length; a `for` as long as the window would drop a single event altogether.
INSTANTANEOUS: dict[str, str] = {
    "OOMKills": "an OOM kill is an event; increase()[15m] keeps it firing for 15 minutes",
    "RedisEvicting": "evictions are events; increase()[10m] keeps it firing for 10 minutes",
    "GPUUncorrectableECC": "one uncorrectable ECC error means corrupt GPU memory; the count stays until a driver reload",
    "GPUXidErrors": "a Xid is an event (often one, before a GPU falls off the bus); the 10-minute window holds it",
    "PrometheusTSDBCompactionsFailed": "a failed compaction is an event; increase()[3h] spans the 2-hour cycle",
}


class Alert(NamedTuple):
    """One alerting rule and the file (stem) it is defined in."""

    file: str
    rule: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.rule["alert"])


def load_yaml(path: Path) -> Any:
    """Parse one YAML document; a syntax error fails the calling test with the file's name."""
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_alerts() -> list[Alert]:
    """Every alerting rule of every rule file, in file order (recording rules are skipped)."""
    alerts: list[Alert] = []
    for stem in RULE_FILES:
        path = RULES_DIR / f"{stem}.yml"
        if not path.is_file():
            continue  # test_rule_and_test_files_are_the_expected_set reports it
        for group in (load_yaml(path) or {}).get("groups", []):
            alerts += [Alert(stem, rule) for rule in group.get("rules", []) if "alert" in rule]
    return alerts


@lru_cache(maxsize=None)
def alert_rule_tests(stem: str) -> tuple[dict[str, Any], ...]:
    """All ``alert_rule_test`` entries of the promtool test file for one rule file (parsed once)."""
    path = TESTS_DIR / f"{stem}.yml"
    if not path.is_file():
        return ()
    tests = (load_yaml(path) or {}).get("tests", [])
    return tuple(case for test in tests for case in test.get("alert_rule_test", []))


ALERTS = load_alerts()


def test_rule_and_test_files_are_the_expected_set() -> None:
    """Exactly one rule file per concern and one promtool test file per rule file, nothing stray."""
    rules = sorted(path.stem for path in RULES_DIR.glob("*.yml"))
    tests = sorted(path.stem for path in TESTS_DIR.glob("*.yml"))
    assert rules == sorted(RULE_FILES), "rules/ must hold exactly the per-concern files " + ", ".join(RULE_FILES)
    assert tests == rules, "every rules/<name>.yml needs rules-tests/<name>.yml and nothing else"
    assert not list(RULES_DIR.glob("*.yaml")) and not list(TESTS_DIR.glob("*.yaml")), "use the .yml extension"


@pytest.mark.parametrize("stem", RULE_FILES)
def test_rule_file_parses_with_the_managed_header(stem: str) -> None:
    """Each rule file is a YAML document of groups with rules, starting with the managed-file marker.

    The files are copied, not templated: Jinja syntax would reach Prometheus unrendered, and
    Prometheus's own ``{{ }}`` templates belong in annotations only, never in an expression.
    """
    path = RULES_DIR / f"{stem}.yml"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "---", f"{path.name}: start with the YAML document marker"
    assert lines[1] == MARKER, f"{path.name}: second line must be {MARKER!r}"
    assert "{%" not in text and "{#" not in text, f"{path.name}: no Jinja; the file is copied as it is"

    data = load_yaml(path)
    assert isinstance(data, dict) and set(data) == {"groups"}, f"{path.name}: expected a mapping with only 'groups'"
    groups = data["groups"]
    assert isinstance(groups, list) and groups, f"{path.name}: no rule groups"
    for group in groups:
        assert re.match(r"^hearth-[a-z-]+$", str(group.get("name"))), f"{path.name}: group {group.get('name')!r}"
        assert isinstance(group.get("rules"), list) and group["rules"], f"{path.name}: {group['name']} has no rules"
        for rule in group["rules"]:
            assert isinstance(rule.get("expr"), str) and rule["expr"].strip(), f"{path.name}: rule without expr: {rule}"
            assert "{{" not in rule["expr"], f"{path.name}: template syntax in the expr of {rule.get('alert')}"


@pytest.mark.parametrize("stem", RULE_FILES)
def test_every_alert_has_a_comment_line_saying_what_it_means(stem: str) -> None:
    """The line above each ``- alert:`` is a comment naming the alert and what it means.

    Someone reading the rules on the monitoring host sees the meaning next to the expression.
    """
    lines = (RULES_DIR / f"{stem}.yml").read_text(encoding="utf-8").splitlines()
    found = 0
    for index, line in enumerate(lines):
        match = re.match(r"^\s*- alert:\s*(\S+)\s*$", line)
        if not match:
            continue
        found += 1
        name = match.group(1)
        comments = []
        for previous in reversed(lines[:index]):
            if not previous.lstrip().startswith("#"):
                break
            comments.insert(0, previous.strip())
        assert comments, f"{stem}.yml: no comment line above alert {name}"
        assert comments[0].startswith(f"# {name}: ") and len(comments[0]) > len(name) + 12, (
            f"{stem}.yml: the comment above {name} should read '# {name}: <what it means>'")
    assert found == sum(1 for alert in ALERTS if alert.file == stem)


def test_alert_names_are_unique_and_camel_case() -> None:
    """Alertmanager routes and inhibits by alertname, so a name means one rule only."""
    assert ALERTS, "no alerts found"
    counts = Counter(alert.name for alert in ALERTS)
    assert not [name for name, count in counts.items() if count > 1], f"duplicate alert names: {counts}"
    bad = [alert.name for alert in ALERTS if not CAMEL_CASE.match(alert.name)]
    assert not bad, f"alert names must be CamelCase: {bad}"


@pytest.mark.parametrize("alert", ALERTS, ids=lambda alert: alert.name)
def test_alert_has_severity_and_annotations(alert: Alert) -> None:
    """Severity picks the receiver (page wakes someone, ticket waits); the annotations tell them what to do.

    The runbook annotation is a single line with the first thing to do, shown as it is in
    notifications.
    """
    labels = alert.rule.get("labels") or {}
    assert labels.get("severity") in SEVERITIES, f"{alert.name}: labels.severity must be one of {sorted(SEVERITIES)}"
    annotations = alert.rule.get("annotations") or {}
    for key in ANNOTATIONS:
        value = annotations.get(key)
        assert isinstance(value, str) and value.strip(), f"{alert.name}: annotations.{key} is missing or empty"
        assert "\n" not in value, f"{alert.name}: annotations.{key} must be one line (wrap with a folded >- scalar)"
    assert len(annotations["runbook"]) <= 300, f"{alert.name}: the runbook is the first step, not the whole procedure"


@pytest.mark.parametrize("alert", ALERTS, ids=lambda alert: alert.name)
def test_alert_has_a_for_duration_unless_it_is_an_event(alert: Alert) -> None:
    """A state alert waits out blips with ``for``; only the documented event alerts fire at once."""
    duration = alert.rule.get("for")
    if alert.name in INSTANTANEOUS:
        assert duration is None, f"{alert.name} is in INSTANTANEOUS but has for: {duration}"
    else:
        assert isinstance(duration, str) and DURATION.match(duration), (
            f"{alert.name}: add a `for:` duration, or list it in INSTANTANEOUS with the reason")


def test_instantaneous_exceptions_name_existing_alerts() -> None:
    """The exception list stays accurate when an alert is renamed or removed."""
    names = {alert.name for alert in ALERTS}
    assert set(INSTANTANEOUS) <= names, f"unknown alerts in INSTANTANEOUS: {sorted(set(INSTANTANEOUS) - names)}"


@pytest.mark.parametrize("stem", RULE_FILES)
def test_promtool_test_file_loads_only_its_rule_file(stem: str) -> None:
    """promtool resolves rule_files relative to the test file, so each test names ``../rules/<name>.yml``."""
    data = load_yaml(TESTS_DIR / f"{stem}.yml")
    assert isinstance(data, dict), f"rules-tests/{stem}.yml is not a mapping"
    assert data.get("rule_files") == [f"../rules/{stem}.yml"], f"rules-tests/{stem}.yml: rule_files"
    assert isinstance(data.get("tests"), list) and data["tests"], f"rules-tests/{stem}.yml has no tests"
    for test in data["tests"]:
        assert test.get("name"), f"rules-tests/{stem}.yml: every test needs a name saying what it shows"
        assert test.get("input_series"), f"rules-tests/{stem}.yml: test {test.get('name')!r} has no input_series"
    defined = {alert.name for alert in ALERTS if alert.file == stem}
    tested = {str(case.get("alertname")) for case in alert_rule_tests(stem)}
    assert tested <= defined, f"rules-tests/{stem}.yml tests alerts not in {stem}.yml: {sorted(tested - defined)}"


@pytest.mark.parametrize("alert", ALERTS, ids=lambda alert: alert.name)
def test_alert_has_a_firing_and_a_quiet_promtool_case(alert: Alert) -> None:
    """Each alert is shown to fire (labels and all annotations checked) and to stay quiet.

    A firing case alone would pass for a rule that always fires; a quiet case alone for one that
    never does. ``exp_alerts: []`` must be written out, so the quiet case is deliberate.
    """
    cases = [case for case in alert_rule_tests(alert.file) if case.get("alertname") == alert.name]
    firing = [case for case in cases if case.get("exp_alerts")]
    quiet = [case for case in cases if "exp_alerts" in case and case["exp_alerts"] == []]
    assert firing, f"rules-tests/{alert.file}.yml: no case where {alert.name} fires"
    assert quiet, f"rules-tests/{alert.file}.yml: no case with `exp_alerts: []` for {alert.name}"
    severity = (alert.rule.get("labels") or {}).get("severity")
    for case in firing:
        for expected in case["exp_alerts"]:
            labels = expected.get("exp_labels") or {}
            annotations = expected.get("exp_annotations") or {}
            assert labels.get("severity") == severity, (
                f"{alert.name} at {case.get('eval_time')}: exp_labels must include severity: {severity}")
            assert set(ANNOTATIONS) <= set(annotations), (
                f"{alert.name} at {case.get('eval_time')}: exp_annotations must check {', '.join(ANNOTATIONS)}")
