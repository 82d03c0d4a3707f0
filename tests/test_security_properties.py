"""Property tests (hypothesis) for the code that reads untrusted input: the pack loader, the
condition engine, the evidence loader and diff. Whatever the input, each returns a result of the
documented shape or raises InputError (a one-line message); nothing else escapes."""

from __future__ import annotations

import atexit
import copy
import json
import os
import shutil
import string
import tempfile

import jsonschema
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from auditor.collect.collected import Collected
from auditor.common.errors import InputError
from auditor.evidence.bundle import build_bundle, content_sha256, load_bundle
from auditor.packs.conditions import OPS, VALUE_TYPES, EvalError, Outcome, compile_condition
from auditor.packs.loader import condition_schema, load_pack
from auditor.results.diff import diff_results

# Hypothesis keeps caches in ./.hypothesis; the suite leaves nothing in the checkout.
_HOME = tempfile.mkdtemp(prefix="auditor-hypothesis-")
set_hypothesis_home_dir(_HOME)
atexit.register(shutil.rmtree, _HOME, True)

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden", "demo-results.json")
SETTINGS = settings(max_examples=80, deadline=None, database=None,  # no .hypothesis folder left behind
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                    st.text(max_size=30), st.sampled_from(["0644", "1.2.3", "CAP_SYS_ADMIN", "<script>", "\x1b[2J"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=30)
keys = st.sampled_from(["inspect.HostConfig.Privileged", "a.b", "a[0]", "a[?b=='c'].d", "@", "a || `1`", "length(a)",
                        "a.*", "flags.x", "x[-1]"])


def _one_line(exc: InputError) -> None:
    assert "\n" not in str(exc) and str(exc)


# ---------------------------------------------------------------- pack loader

YAML_TOKENS = ["controls:", "- ", "id: '1'", "title: t", "check: ", "{key: a, op: eq, value: 1}", "&a ", "*a", "[",
               "]", "{", "}", ": ", "\n", "  ", "'", '"', "!!binary", "!!python/object:os.system", "<<: *a", "\x00",
               "\t", "---\n", "~", "1e999", "0o17"]


def _pack(folder, text: str) -> str:  # type: ignore[no-untyped-def]
    (folder / "controls").mkdir(parents=True, exist_ok=True)
    (folder / "pack.yaml").write_text('id: p\nkind: benchmark\ntitle: P\nversion: "1"\n'
                                      'sections: [{id: "9", title: N}]\n')
    (folder / "controls" / "c.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    return str(folder)


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from(YAML_TOKENS), st.text(max_size=10)), max_size=40))
def test_pack_loader_takes_any_text(tmp_path, tokens):
    try:
        pack = load_pack(_pack(tmp_path, "".join(tokens)))
    except InputError as exc:
        _one_line(exc)
        return
    assert pack.id == "p"


control_fields = st.fixed_dictionaries(
    {"id": st.one_of(st.just("1"), st.text(max_size=5), st.integers()), "title": st.text(max_size=10),
     "section": st.sampled_from(["9", "8", 9]), "severity": st.sampled_from(["high", "low", "x"]),
     "assessment": st.sampled_from(["automated", "manual"]), "rationale": st.just("r"), "audit": st.just("a"),
     "remediation": st.just("m")},
    optional={"target": st.sampled_from(["docker.container", "k8s.pod", "", "x"]), "check": json_values,
              "where": json_values, "level": st.sampled_from([1, 2, 3]), "weight": st.one_of(st.integers(), scalars)})


@SETTINGS
@given(st.lists(control_fields, max_size=3))
def test_pack_loader_takes_any_structure(tmp_path, controls):
    text = yaml.safe_dump({"controls": controls}, allow_unicode=True)
    try:
        load_pack(_pack(tmp_path, text))
    except InputError as exc:
        _one_line(exc)


# ---------------------------------------------------------------- condition engine

VALIDATOR = jsonschema.Draft202012Validator({**condition_schema(), "$ref": "#/$defs/condition"})
leaf = st.builds(lambda key, op, value, vtype: {k: v for k, v in (("key", key), ("op", op), ("value", value),
                                                                     ("value_type", vtype)) if v is not None},
                 keys, st.sampled_from(sorted(OPS)), st.one_of(st.none(), json_values,
                                                                st.lists(scalars, max_size=3)),
                 st.one_of(st.none(), st.sampled_from(sorted(VALUE_TYPES))))
conditions = st.recursive(leaf, lambda inner: st.one_of(
    st.builds(lambda c: {"all": c}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda c: {"any": c}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda c: {"not": c}, inner)), max_leaves=6)
items = st.fixed_dictionaries({"subject": st.just({"type": "t", "name": "n"})},
                              optional={"a": json_values, "inspect": json_values, "flags": json_values,
                                        "x": json_values, "errors": st.dictionaries(st.sampled_from(["a", "inspect"]),
                                                                                    st.text(max_size=5))})


@SETTINGS
@given(conditions, st.lists(items, min_size=1, max_size=3))
def test_condition_engine_gives_an_outcome_or_a_reason(cond, subjects):
    if not VALIDATOR.is_valid(cond):
        return  # the pack loader refuses it first (tested above)
    try:
        node = compile_condition(cond, {})
    except InputError as exc:
        _one_line(exc)
        return
    for item in subjects:
        try:
            outcome = node(item)
        except EvalError:
            continue  # "could not tell": an error verdict with the reason the evidence gave
        assert isinstance(outcome, Outcome) and isinstance(outcome.passed, bool)
        json.dumps(outcome.observed, default=str)


# ---------------------------------------------------------------- evidence loader

@SETTINGS
@given(json_values, st.booleans())
def test_evidence_loader_takes_any_json(tmp_path, value, as_bundle):
    doc = value
    if as_bundle:
        doc = {"kind": "auditor-evidence", "schema_version": "1", "metadata": value if isinstance(value, dict) else {},
               "targets": {"docker.container": [{"subject": {"name": "x"}, "v": value}]}}
        doc["sha256"] = content_sha256(doc)
    path = tmp_path / "e.json"
    path.write_text(json.dumps(doc))
    try:
        loaded = load_bundle(str(path))
    except InputError as exc:
        _one_line(exc)
        return
    assert isinstance(loaded["targets"], dict)


@SETTINGS
@given(st.binary(max_size=200))
def test_evidence_loader_takes_any_bytes(tmp_path, data):
    path = tmp_path / "e.json"
    path.write_bytes(data)
    try:
        load_bundle(str(path))
    except InputError as exc:
        _one_line(exc)


def test_built_bundles_round_trip(tmp_path):
    collected = Collected()
    collected.add("docker.container", {"subject": {"name": "\u202e<x>"}, "v": [1, {"a": None}]})
    doc = build_bundle(collected, host="h", collected_at="2026-01-01T00:00:00Z")
    path = tmp_path / "e.json"
    path.write_text(json.dumps(doc))
    assert load_bundle(str(path)) == doc


# ---------------------------------------------------------------- diff

with open(GOLDEN, encoding="utf-8") as _fh:
    RESULTS = json.load(_fh)
STATUSES = ["pass", "fail", "error", "not_applicable", "manual"]


@st.composite
def mutated_results(draw):  # type: ignore[no-untyped-def]
    doc = copy.deepcopy(RESULTS)
    controls = doc["controls"]
    for _ in range(draw(st.integers(0, 8))):
        if not controls:
            break
        index = draw(st.integers(0, len(controls) - 1))
        action = draw(st.sampled_from(["drop", "status", "findings", "rename"]))
        if action == "drop":
            controls.pop(index)
        elif action == "status":
            controls[index]["status"] = draw(st.sampled_from(STATUSES))
        elif action == "findings":
            controls[index]["findings"] = [{"subject": {"type": "container", "name": draw(st.text(
                alphabet=string.printable, max_size=8))}, "status": draw(st.sampled_from(STATUSES[:3]))}
                for _ in range(draw(st.integers(0, 3)))]
        else:
            controls[index]["id"] = draw(st.text(min_size=1, max_size=6))
    if draw(st.booleans()):
        doc["summary"]["score"] = draw(st.one_of(st.none(), st.floats(0, 100)))
    return doc


@SETTINGS
@given(mutated_results(), mutated_results())
def test_diff_of_any_two_results(old, new):
    diff = diff_results(old, new)
    json.dumps(diff, allow_nan=False)
    same = diff_results(new, new)
    assert same["summary"]["changed"] is False and same["summary"]["regression"] is False
    back = diff_results(new, old)
    # A finding that fails now and passed (or was absent) before is new one way and resolved the
    # other; one that could not be judged before (error) is new, but an error is never "resolved".
    assert diff["summary"]["new_findings"] >= back["summary"]["resolved_findings"]


# The evidence hash and large files are encoded in pieces: the pieces join to exactly json.dumps.
_JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6)),
                     lambda inner: st.one_of(st.lists(inner, max_size=4),
                                             st.dictionaries(st.text(max_size=4), inner, max_size=4)),
                     max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.booleans(), st.integers(min_value=0, max_value=4))
def test_json_chunks_join_to_json_dumps(value, sort_keys, depth):
    from auditor.common.jsonio import json_chunks

    expected = json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)
    assert "".join(json_chunks(value, sort_keys, depth)) == expected


def test_json_chunks_leave_non_string_keys_to_the_encoder():
    from auditor.common.jsonio import json_chunks

    value = {"a": {1: "x", "b": None}, "c": [{True: 1}]}
    assert "".join(json_chunks(value)) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
