"""The scanner's SARIF against the official SARIF 2.1.0 schema, and what GitHub relies on.

GitHub code scanning rejects a SARIF upload that does not match the schema, and places an
alert on a pull request only when the location is a path relative to the checkout with a
1-based line. So the reports of the fixture trees (``app`` and ``legacy``, and the empty
report of ``clean``) are validated against the real OASIS schema in
``tests/fixtures/sarif`` (not a hand-written subset), and the parts the schema cannot say are
checked here: one rule per kind, ``ruleIndex`` pointing at the result's rule, relative
``%SRCROOT%`` locations, and no unmasked secret in any of the three report formats. A broken
document must fail the same validation, or the check proves nothing.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable, Dict, List

import jsonschema
import pytest

from ansible_collections.hearth.platform.plugins.module_utils import aws_scan as core

TESTS = Path(__file__).resolve().parent.parent
FIXTURES = TESTS / "fixtures" / "aws"
SCHEMA_PATH = TESTS / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
TREES = ("app", "legacy")
# The example credentials in fixtures/aws/app/.env (AWS's documented example key).
SECRETS = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
Doc = Dict[str, Any]


def load_schema() -> Doc:
    schema: Doc = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def schema_errors(doc: Doc) -> List[str]:
    """Every schema violation in ``doc``, with the validator its ``$schema`` declares."""
    schema = load_schema()
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in sorted(validator.iter_errors(doc), key=str)]


def findings_of(tree: str) -> List[Doc]:
    findings, _ = core.scan_tree(str(FIXTURES / tree), core.Options(jobs=1))
    return [f.to_dict() for f in findings]


def root_uri(tree: str) -> str:
    return (FIXTURES / tree).resolve().as_uri() + "/"


def sarif_of(tree: str) -> Doc:
    doc: Doc = core.sarif(findings_of(tree), root_uri(tree))
    return doc


def rules_of(doc: Doc) -> List[Doc]:
    rules: List[Doc] = doc["runs"][0]["tool"]["driver"]["rules"]
    return rules


def results_of(doc: Doc) -> List[Doc]:
    results: List[Doc] = doc["runs"][0]["results"]
    return results


def test_the_schema_is_the_complete_official_one() -> None:
    schema = load_schema()
    jsonschema.validators.validator_for(schema).check_schema(schema)
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert schema["properties"]["version"]["enum"] == ["2.1.0"]
    # The full schema defines every SARIF object, not just the few the scanner writes.
    for name in ("run", "result", "reportingDescriptor", "physicalLocation", "region",
                 "artifactLocation", "toolComponent", "invocation", "fix", "threadFlowLocation",
                 "graph", "webRequest", "suppression"):
        assert name in schema["definitions"], name
    assert len(schema["definitions"]) >= 50


@pytest.mark.parametrize("tree", TREES)
def test_fixture_sarif_validates(tree: str) -> None:
    doc = sarif_of(tree)
    assert results_of(doc), "the fixture should have findings"
    assert schema_errors(doc) == []


@pytest.mark.parametrize("tree", TREES)
def test_sarif_survives_a_json_round_trip(tree: str) -> None:
    doc = json.loads(json.dumps(sarif_of(tree)))
    assert schema_errors(doc) == []
    assert doc["version"] == "2.1.0" and len(doc["runs"]) == 1


def test_an_empty_scan_still_validates() -> None:
    assert findings_of("clean") == []
    doc = core.sarif([], root_uri("clean"))
    assert schema_errors(doc) == []
    assert results_of(doc) == []
    assert len(rules_of(doc)) == len(core.KINDS)
    assert schema_errors(core.sarif([])) == []


@pytest.mark.parametrize("tree", TREES)
def test_one_rule_per_kind(tree: str) -> None:
    rules = rules_of(sarif_of(tree))
    ids = [rule["id"] for rule in rules]
    assert len(ids) == len(set(ids)) == len(core.KINDS)
    assert set(ids) == set(core.KINDS)
    for rule in rules:
        kind = core.KINDS[rule["id"]]
        assert rule["shortDescription"]["text"] == kind.title
        assert rule["defaultConfiguration"]["level"] == kind.level


@pytest.mark.parametrize("tree", TREES)
def test_every_result_points_at_its_rule(tree: str) -> None:
    doc = sarif_of(tree)
    rules = rules_of(doc)
    for result in results_of(doc):
        assert result["ruleId"] in core.KINDS
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] == core.KINDS[result["ruleId"]].level


@pytest.mark.parametrize("tree", TREES)
def test_locations_are_relative_to_srcroot_with_one_based_lines(tree: str) -> None:
    findings = findings_of(tree)
    doc = core.sarif(findings, root_uri(tree))
    base = doc["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base.startswith("file://") and base.endswith("/")
    results = results_of(doc)
    assert len(results) == len(findings)
    for finding, result in zip(findings, results):
        [location] = result["locations"]
        physical = location["physicalLocation"]
        artifact = physical["artifactLocation"]
        uri = artifact["uri"]
        assert artifact["uriBaseId"] == "%SRCROOT%"
        assert uri == finding["path"]
        assert not uri.startswith("/") and ":" not in uri and "\\" not in uri
        assert ".." not in uri.split("/")
        assert (FIXTURES / tree / uri).is_file(), uri
        region = physical["region"]
        assert region["startLine"] == finding["line"] >= 1
        assert region["startColumn"] == finding["column"] >= 1


def test_region_lines_are_never_zero() -> None:
    """A finding without a line (a whole-file remnant) still lands on line 1."""
    finding = {"path": "a/b.tf", "line": 0, "column": 0, "kind": "terraform-aws",
               "evidence": "x", "suggestion": "y", "fixable": False}
    doc = core.sarif([finding])
    region = results_of(doc)[0]["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (1, 1)
    assert schema_errors(doc) == []


def reports_of(tree: str) -> Dict[str, str]:
    """The three report formats of one fixture tree, as the text that would be written."""
    findings = findings_of(tree)
    return {"sarif": json.dumps(core.sarif(findings, root_uri(tree))),
            "json": json.dumps(core.json_report(findings, {}, str(FIXTURES / tree))),
            "markdown": core.markdown(findings)}


@pytest.mark.parametrize("tree", TREES)
def test_no_unmasked_secret_in_any_report(tree: str) -> None:
    for fmt, text in reports_of(tree).items():
        for secret in SECRETS:
            assert secret not in text, (fmt, secret)
            # Not even a long piece of it (the mask keeps only a prefix and a suffix).
            assert secret[4:16] not in text, (fmt, secret)


def test_the_app_fixture_really_holds_the_secrets() -> None:
    """The secret check above is only meaningful if the scanner saw the keys."""
    env = (FIXTURES / "app" / ".env").read_text(encoding="utf-8")
    assert all(secret in env for secret in SECRETS)
    kinds = {f["kind"] for f in findings_of("app") if f["path"] == ".env"}
    assert {"access-key-id", "secret-access-key"} <= kinds


Mutation = Callable[[Doc], None]


def _set_version(doc: Doc) -> None:
    doc["version"] = "2.0"


def _zero_line(doc: Doc) -> None:
    results_of(doc)[0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0


def _bad_level(doc: Doc) -> None:
    results_of(doc)[0]["level"] = "critical"


def _drop_message(doc: Doc) -> None:
    del results_of(doc)[0]["message"]


def _drop_driver_name(doc: Doc) -> None:
    del doc["runs"][0]["tool"]["driver"]["name"]


def _unknown_top_level(doc: Doc) -> None:
    doc["extra"] = True


@pytest.mark.parametrize("mutate", [_set_version, _zero_line, _bad_level, _drop_message,
                                    _drop_driver_name, _unknown_top_level])
def test_a_broken_document_fails_validation(mutate: Mutation) -> None:
    doc = copy.deepcopy(sarif_of("legacy"))
    assert schema_errors(doc) == []
    mutate(doc)
    assert schema_errors(doc) != []


def test_artifact_uris_are_percent_encoded() -> None:
    """A space or '#' in a file name must not turn into a broken URI or a fragment."""
    finding = core.scan_text("U = 's3://bucket/key'\n", "my dir/file #1.py")[0].to_dict()
    log = core.sarif([finding])
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "my%20dir/file%20%231.py"


def test_repeated_findings_keep_distinct_fingerprints() -> None:
    """Two identical remnants in one file are two alerts, not one."""
    text = "A = 's3://bucket/key'\nB = 's3://bucket/key'\n"
    findings = [f.to_dict() for f in core.scan_text(text, "x.py")]
    prints = [r["partialFingerprints"]["hearthFinding/v1"]
              for r in core.sarif(findings)["runs"][0]["results"]]
    assert len(prints) == 2 and len(set(prints)) == 2
