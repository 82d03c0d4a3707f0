"""The results file written proportionate (schema 1.1) and read back as the plain document."""

from __future__ import annotations

import copy
import json

import pytest
from report_samples import demo_results

from auditor.common.errors import InputError
from auditor.common.jsonio import write_json_atomic
from auditor.results.document import compact_results, expand_results, load_results


def test_compact_form_reads_back_field_for_field(tmp_path):
    doc = demo_results()
    plain = copy.deepcopy(doc)
    path = tmp_path / "demo.results.json"
    write_json_atomic(str(path), compact_results(doc))
    assert doc == plain  # compacting leaves the document as it is
    back = load_results(str(path))
    assert back == dict(plain, schema_version="1.1")


def test_each_subject_written_once_and_shared_fields_once_per_control(tmp_path):
    doc = demo_results()
    compact = compact_results(doc)
    subjects = compact["subjects"]
    assert len({json.dumps(s, sort_keys=True) for s in subjects}) == len(subjects)  # no subject twice
    judged = {json.dumps(f["subject"], sort_keys=True) for c in doc["controls"] for f in c["findings"]}
    assert len(subjects) == len(judged)
    findings = sum(len(c["findings"]) for c in doc["controls"])
    assert len(subjects) < findings  # the same container is judged by many controls
    assert all(isinstance(f["subject"], int) for c in compact["controls"] for f in c["findings"])
    shared = [c for c in compact["controls"] if c.get("finding_defaults")]
    assert shared
    for control in shared:
        for status, fields in control["finding_defaults"].items():
            for f in control["findings"]:
                if f["status"] == status:
                    assert not set(fields) & set(f)  # written once, not again per finding
    text = json.dumps(compact)
    assert len(text) < 0.7 * len(json.dumps(doc))


def test_a_field_some_findings_lack_is_never_shared():
    doc = demo_results()
    control = next(c for c in doc["controls"] if sum(f["status"] == "fail" for f in c["findings"]) >= 2)
    fails = [f for f in control["findings"] if f["status"] == "fail"]
    for f in fails:
        f["where"] = "same place"
    fails[0].pop("where")
    compact = compact_results(doc)
    entry = next(c for c in compact["controls"] if (c["pack"], c["id"]) == (control["pack"], control["id"]))
    assert "where" not in (entry.get("finding_defaults") or {}).get("fail", {})
    back = expand_results(json.loads(json.dumps(compact)))
    again = next(c for c in back["controls"] if (c["pack"], c["id"]) == (control["pack"], control["id"]))
    assert again["findings"] == control["findings"]


def test_plain_version_1_0_files_still_load(tmp_path):
    doc = dict(demo_results(), schema_version="1.0")
    path = tmp_path / "old.results.json"
    path.write_text(json.dumps(doc))
    assert load_results(str(path)) == doc


def test_a_subject_index_outside_the_table_is_one_line_naming_the_finding(tmp_path):
    compact = compact_results(demo_results())
    control = next(i for i, c in enumerate(compact["controls"]) if c["findings"])
    compact["controls"][control]["findings"][0]["subject"] = len(compact["subjects"]) + 5
    path = tmp_path / "bad.results.json"
    path.write_text(json.dumps(compact))
    with pytest.raises(InputError) as err:
        load_results(str(path))
    message = str(err.value)
    assert "\n" not in message and f"controls/{control}/findings/0/subject" in message and str(path) in message


def test_a_malformed_defaults_block_is_refused(tmp_path):
    compact = compact_results(demo_results())
    control = next(c for c in compact["controls"] if c.get("finding_defaults"))
    control["finding_defaults"]["fail"] = {"where": 7}
    path = tmp_path / "bad.results.json"
    path.write_text(json.dumps(compact))
    with pytest.raises(InputError, match="finding_defaults"):
        load_results(str(path))
