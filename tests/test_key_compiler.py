"""Pack keys compiled to Python (auditor.packs.key_compiler) give what the JMESPath interpreter
gives: every key of the shipped packs on every item of the control fixtures and the demo, and
generated expressions on generated JSON."""

from __future__ import annotations

import copy
import glob
import os

import jmespath
import yaml
from controlfixtures import apply_changes, fixture_files, load_base, load_fixture
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.packs.key_compiler import compile_key

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _keys(node, out):
    if isinstance(node, dict):
        if isinstance(node.get("key"), str) and ("op" in node or "schema" in node):
            out.add(node["key"])
        for value in node.values():
            _keys(value, out)
    elif isinstance(node, list):
        for value in node:
            _keys(value, out)
    return out


def _pack_keys():
    keys = set()
    for path in glob.glob(os.path.join(ROOT, "benchmarks", "*", "controls", "*.yaml")):
        with open(path, encoding="utf-8") as fh:
            _keys(yaml.safe_load(fh), keys)
    return sorted(keys)


def _fixture_items():
    items = []
    for _pack, _control, path in fixture_files():
        fixture = load_fixture(path)
        base = load_base(fixture["base"]) if fixture.get("base") else {}
        for case in fixture.get("cases") or []:
            for spec in case["items"] if "items" in case else [case]:
                start = load_base(spec["base"]) if spec.get("base") else copy.deepcopy(base)
                items.append(apply_changes(start, spec))
    from auditor.api import load_demo

    items += [i for target in load_demo()["targets"].values() for i in target]
    return items


def _outcome(function, item):
    try:
        return ("value", function(item))
    except Exception as exc:  # noqa: BLE001 (the same error, of the same type, is what is compared)
        return ("error", type(exc).__name__)


def test_every_pack_key_gives_what_jmespath_gives_on_every_fixture_item():
    keys, items = _pack_keys(), _fixture_items()
    assert len(keys) > 150 and len(items) > 500
    for key in keys:
        expression = jmespath.compile(key)
        compiled = compile_key(expression.parsed)
        for item in items:
            assert _outcome(compiled, item) == _outcome(expression.search, item), (key, item.get("subject"))


def _expressions():
    names = st.sampled_from(["a", "b", "c", "x"])
    literals = st.sampled_from(["`0`", "`1`", "`true`", "`false`", "`null`", "'x'", "`\"\"`", "`[]`", "`{}`", "`2.5`"])
    atoms = st.one_of(names, literals, st.just("@"))

    def grow(inner):
        return st.one_of(
            st.tuples(inner, names).map(lambda t: f"{t[0]}.{t[1]}" if not t[0].startswith(("`", "'", "@")) else t[1]),
            st.tuples(names, inner).map(lambda t: f"{t[0]}[?{t[1]}]"),
            st.tuples(names, inner, names).map(lambda t: f"{t[0]}[?{t[1]}].{t[2]}"),
            st.tuples(names, st.integers(-2, 2)).map(lambda t: f"{t[0]}[{t[1]}]"),
            names.map(lambda n: f"{n}[]"), names.map(lambda n: f"{n}[*].b"),
            st.tuples(inner, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner, st.sampled_from(["&&", "||"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda e: f"!({e})"),
            st.tuples(inner, inner).map(lambda t: f"[{t[0]}, {t[1]}]"),
            st.tuples(inner, inner).map(lambda t: f"({t[0]}) | ({t[1]})"),
            inner.map(lambda e: f"length({e})"), names.map(lambda n: f"{n}[1:]"),
        )
    return st.recursive(atoms, grow, max_leaves=6)


def _json():
    scalars = st.one_of(st.none(), st.booleans(), st.sampled_from([0, 1, 2, 0.0, 1.0, 2.5, "", "x", "a"]))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "c", "x"]), inner, max_size=3)),
        max_leaves=10)


@settings(max_examples=600, deadline=None)
@given(_expressions(), st.lists(_json(), min_size=1, max_size=4))
def test_generated_expressions_give_what_jmespath_gives(text, items):
    try:
        expression = jmespath.compile(text)
    except jmespath.exceptions.JMESPathError:
        return  # not an expression (a generated combination the grammar refuses)
    compiled = compile_key(expression.parsed)
    for item in items:
        assert _outcome(compiled, item) == _outcome(expression.search, item), (text, item)


TRICKY = ["a == `true`", "a == `false`", "`1` == a", "`0` != a", "a[?b == `true`].c", "a[?b != `0`]", "!a", "!a.b",
          "a < 'x'", "a >= `1`", "a > b", "a && b", "a || b", "a[0]", "a[-1].b", "a[]", "a[*]", "[a, b][]",
          "a.b[?c] | [0]", "a[?@]", "a[?!b]"]
ODD_ITEMS = [{"a": 1}, {"a": 0}, {"a": True}, {"a": False}, {"a": 1.0}, {"a": 0.0}, {"a": ""}, {"a": []}, {"a": {}},
             {"a": "x"}, {"a": "y", "b": "x"}, {"a": 2, "b": 1.5}, {"a": [{"b": True, "c": 1}, {"b": 1, "c": 2},
                                                                        {"b": 0}, {"b": False}, None, 3]},
             {"a": {"b": [{"c": 0}, {"c": ""}, {"c": "x"}]}}, {"a": [[1, 2], 3, [[4]]], "b": [5]}, {}]


def test_equality_truth_and_ordering_follow_jmespath_on_edge_values():
    for text in TRICKY:
        expression = jmespath.compile(text)
        compiled = compile_key(expression.parsed)
        for item in ODD_ITEMS:
            assert _outcome(compiled, item) == _outcome(expression.search, item), (text, item)
