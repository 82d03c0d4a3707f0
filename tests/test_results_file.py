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


# ---------------------------------------------------------------------------------------------
# the fast validator says yes only where jsonschema says yes

DRAFT7_AND_2020_12 = {"$id", "$ref", "$schema", "$defs", "additionalProperties", "allOf", "anyOf", "const",
                      "description", "enum", "if", "then", "else", "items", "maximum", "minimum", "maxLength",
                      "minLength", "maxItems", "minItems", "oneOf", "not", "pattern", "properties",
                      "patternProperties", "required", "title", "type", "uniqueItems", "$comment", "default"}


def _schema_nodes(node, path=""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key in ("properties", "$defs", "patternProperties"):
                for name, sub in value.items():
                    yield from _schema_nodes(sub, f"{path}/{key}/{name}")
            elif key not in ("enum", "const", "required"):
                yield from _schema_nodes(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _schema_nodes(sub, f"{path}/{i}")


def test_results_schema_means_the_same_in_draft_7_as_in_2020_12():
    """The fast validator compiles the schema as draft 7: it must use only keywords of the same
    meaning in both drafts, and nothing beside a $ref (draft 7 ignores it, 2020-12 applies it)."""
    from auditor.results.document import results_schema

    for path, node in _schema_nodes(results_schema()):
        assert set(node) <= DRAFT7_AND_2020_12 | set(), (path, set(node) - DRAFT7_AND_2020_12)
        if "$ref" in node:
            assert set(node) <= {"$ref", "description", "title", "$comment"}, path


def _mutations(doc, rng):
    """Documents one change away from `doc`: a key removed, a value of another type, an unknown
    key added, a string replaced by one no enum holds."""
    paths = []

    def walk(node, trail):
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append((trail, k))
                walk(v, (*trail, k))
        elif isinstance(node, list):
            for i, v in enumerate(node[:3]):
                paths.append((trail, i))
                walk(v, (*trail, i))

    walk(doc, ())
    for trail, key in rng.sample(paths, min(400, len(paths))):
        bad = copy.deepcopy(doc)
        parent = bad
        for step in trail:
            parent = parent[step]
        kind = rng.choice(["drop", "type", "extra", "enum"])
        if kind == "drop" and isinstance(parent, dict):
            del parent[key]
        elif kind == "extra" and isinstance(parent[key], dict):
            parent[key]["unexpected_field"] = 1
        elif kind == "enum" and isinstance(parent[key], str):
            parent[key] = "no-such-" + parent[key]
        else:
            value = parent[key]
            parent[key] = [] if isinstance(value, (str, int, float, dict)) else "x"
        yield bad


def test_fast_validator_rejects_whatever_jsonschema_rejects():
    import random

    import jsonschema

    from auditor.results.document import _fast_validator, results_schema

    fast = _fast_validator()
    assert fast is not None  # installed with the package
    validator = jsonschema.Draft202012Validator(results_schema())
    doc = json.loads(json.dumps(demo_results()))
    fast(doc)  # a valid document passes both
    assert not list(validator.iter_errors(doc))
    rejected = 0
    for bad in _mutations(doc, random.Random(7)):
        if next(validator.iter_errors(bad), None) is not None:
            rejected += 1
            with pytest.raises(Exception):  # noqa: B017 - fastjsonschema's own exception type
                fast(bad)
    assert rejected > 100  # the mutations do reach the schema's rules


def test_an_invalid_results_file_still_gets_jsonschemas_one_line(tmp_path):
    doc = json.loads(json.dumps(demo_results()))
    doc["controls"][0]["status"] = "sort-of"
    path = tmp_path / "bad.results.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"bad\.results\.json: invalid results at controls/0/status: 'sort-of'"):
        load_results(str(path))


def _big_results() -> dict:
    """The demo results with a control failing on 6,000 distinct subjects (past INDENT_LIMIT, so
    written compact and streamed), some listed by two controls."""
    doc = demo_results()
    controls = [c for c in doc["controls"] if c["findings"]]
    for n, control in enumerate(controls[:3]):
        control["findings"] = [{"subject": {"type": "Deployment", "name": f"ns{i % 40}/app{i}",
                                            "namespace": f"ns{i % 40}"},
                                "status": "fail", "expected": "false", "observed": i % 3 == 0,
                                "where": "spec.template"}
                               for i in range(n * 1000, n * 1000 + 4000)]
    return doc


@pytest.mark.parametrize("sample", ["demo", "big"])
def test_the_streamed_file_is_the_compact_document_byte_for_byte(sample, tmp_path):
    """write_results_stream (one control at a time) writes exactly json_bytes(compact_results),
    with the SHA-256 and size of those bytes; the file validates and reads back as the plain form."""
    import hashlib

    from auditor.common.jsonio import INDENT_LIMIT, json_bytes
    from auditor.results.document import write_results_stream

    doc = demo_results() if sample == "demo" else _big_results()
    plain = copy.deepcopy(doc)
    path = tmp_path / "r.results.json"
    with open(path, "wb") as fh:
        sha, size = write_results_stream(fh, doc)
    data = path.read_bytes()
    assert data == json_bytes(compact_results(doc))
    assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert (len(data) > INDENT_LIMIT) == (sample == "big")  # the big one is written compact, in pieces
    assert doc == plain
    assert load_results(str(path)) == dict(plain, schema_version="1.1")  # validates, expands


@pytest.mark.parametrize("failure", ["unencodable", "interrupted"])
def test_a_run_whose_results_fail_part_way_leaves_no_file(failure, tmp_path, monkeypatch):
    """The results file is streamed into a temporary file linked into place only when complete:
    a value that cannot be written, or Ctrl-C, half-way through the controls leaves no results
    file, no temporary file and no name taken (the next run gets the first name)."""
    from auditor import api
    from auditor.results import document

    evidence = api.load_demo()
    results = api.evaluate(evidence)
    outputs = api.Outputs(output_dir=str(tmp_path), html=False, pdf=False, save_evidence=False)
    half = len(results["controls"]) // 2
    if failure == "unencodable":
        bad = copy.deepcopy(results)
        bad["controls"][half]["findings"] = [{"subject": {"type": "x", "name": "y"}, "status": "fail",
                                              "observed": {"a", "set"}}]
        with pytest.raises(TypeError):
            api.write_outputs(evidence, bad, outputs, "docker")
    else:
        calls = []
        real = document._compact_control

        def interrupted(control, index):
            calls.append(1)
            if len(calls) > half:
                raise KeyboardInterrupt
            return real(control, index)

        monkeypatch.setattr(document, "_compact_control", interrupted)
        with pytest.raises(KeyboardInterrupt):
            api.write_outputs(evidence, results, outputs, "docker")
        monkeypatch.undo()
        assert len(calls) == half + 1  # it stopped part-way, some controls written
    assert list(tmp_path.iterdir()) == []
    written = api.write_outputs(evidence, results, outputs, "docker")
    assert written.results == str(tmp_path / api.run_name(evidence, "docker")) + ".results.json"
    assert load_results(written.results)["summary"] == results["summary"]
