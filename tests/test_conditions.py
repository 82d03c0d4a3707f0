"""The condition language: operators, value types, combinators, and the evidence they report."""

from __future__ import annotations

import pytest

from auditor.common.errors import InputError
from auditor.packs.conditions import OPS, EvalError, compile_condition

ITEM = {
    "mode": "0640",
    "user": "app",
    "caps": ["CAP_NET_ADMIN", "chown"],
    "ports": [{"HostIp": "0.0.0.0", "HostPort": "80"}, {"HostIp": "127.0.0.1", "HostPort": "8080"}],
    "version": "20.10.24+dfsg1",
    "flags": {"anonymous-auth": ["true", "false"], "profiling": ["true"]},
    "history": ["/bin/sh -c apt-get update", "/bin/sh -c apt-get update && apt-get install -y curl"],
    "nested": {"n": 3},
    "errors": {"broken": "daemon.json line 3: Expecting ','"},
    "broken": {"x": 1},
}


def run(cond, item=ITEM):
    return compile_condition(cond)(item)


@pytest.mark.parametrize("cond,passed", [
    ({"key": "user", "op": "eq", "value": "app"}, True),
    ({"key": "user", "op": "ne", "value": "app"}, False),
    ({"key": "user", "op": "in", "value": ["root", "app"]}, True),
    ({"key": "user", "op": "not-in", "value": ["root", "0"]}, True),
    ({"key": "caps", "op": "contains", "value": "chown"}, True),
    ({"key": "user", "op": "contains", "value": "pp"}, True),
    ({"key": "user", "op": "not-contains", "value": "x"}, True),
    ({"key": "user", "op": "regex", "value": "^a"}, True),
    ({"key": "user", "op": "not-regex", "value": "^a"}, False),
    ({"key": "nested.n", "op": "gt", "value": 2}, True),
    ({"key": "nested.n", "op": "gte", "value": 4}, False),
    ({"key": "nested.n", "op": "lt", "value": 4}, True),
    ({"key": "nested.n", "op": "lte", "value": 2}, False),
    ({"key": "nested.missing", "op": "present"}, False),
    ({"key": "nested.missing", "op": "absent"}, True),
    ({"key": "nested.missing", "op": "empty"}, True),
    ({"key": "caps", "op": "not-empty"}, True),
    ({"key": "nested.missing || `true`", "op": "true"}, True),
    ({"key": "nested.missing", "op": "false"}, False),
    ({"key": "mode", "op": "mode-at-most", "value": "0644"}, True),
    ({"key": "mode", "op": "mode-at-most", "value": "0600"}, False),
    ({"key": "mode", "op": "mode-at-most", "value": "0444"}, False),
    ({"key": "caps", "op": "subset-of", "value": ["CHOWN", "NET_ADMIN"], "value_type": "capability"}, True),
    ({"key": "caps", "op": "subset-of", "value": ["CHOWN"], "value_type": "capability"}, False),
    ({"key": "caps", "op": "disjoint", "value": ["SYS_ADMIN"], "value_type": "capability"}, True),
    ({"key": "history", "op": "any-match", "value": "install"}, True),
    ({"key": "history", "op": "none-match", "value": {"match": r"\bapt-get\s+update\b", "unless": r"\binstall\b"}},
     False),
    ({"key": "history[1:]", "op": "none-match", "value": {"match": r"\bapt-get\s+update\b", "unless": r"\binstall\b"}},
     True),
    ({"key": "version", "op": "gte", "value": "20.10.9", "value_type": "version"}, True),
    ({"key": "version", "op": "gte", "value": "26.1", "value_type": "version"}, False),
    ({"key": "ports[?HostIp=='0.0.0.0']", "op": "empty"}, False),
    ({"key": "ports[].HostPort", "op": "subset-of", "value": [80, 8080], "value_type": "integer"}, True),
    ({"flag": "anonymous-auth", "op": "eq", "value": "false"}, True),  # the last value wins
    ({"flag": "--profiling", "op": "eq", "value": "false"}, False),
    ({"flag": "kubeconfig", "op": "absent"}, True),
    ({"all": [{"key": "user", "op": "eq", "value": "app"}, {"key": "nested.n", "op": "eq", "value": 3}]}, True),
    ({"all": [{"key": "user", "op": "eq", "value": "app"}, {"key": "nested.n", "op": "eq", "value": 4}]}, False),
    ({"any": [{"key": "user", "op": "eq", "value": "x"}, {"key": "nested.n", "op": "eq", "value": 3}]}, True),
    ({"any": [{"key": "user", "op": "eq", "value": "x"}, {"key": "nested.n", "op": "eq", "value": 4}]}, False),
    ({"not": {"key": "user", "op": "eq", "value": "root"}}, True),
    ({"schema": {"type": "object", "required": ["user"]}}, True),
    ({"schema": {"type": "string", "pattern": "^root$"}, "key": "user"}, False),
])
def test_operator_cases(cond, passed):
    assert run(cond).passed is passed


def test_every_operator_has_a_case():
    import inspect

    source = inspect.getsource(test_operator_cases)
    missing = [op for op in OPS if f'"op": "{op}"' not in source]
    assert not missing


def test_failure_says_what_it_saw():
    out = run({"key": "ports[?HostIp=='0.0.0.0'].HostPort", "op": "empty"})
    assert not out.passed
    assert out.observed == ["80"]
    assert "HostIp" in out.expected and out.key.startswith("ports")


def test_any_failure_reports_each_branch():
    out = run({"any": [{"key": "user", "op": "eq", "value": "x"}, {"key": "nested.n", "op": "eq", "value": 4}]})
    assert out.observed == {"user": "app", "nested.n": 3}
    assert " or " in out.expected


def test_schema_failure_names_the_field():
    out = run({"schema": {"type": "object", "properties": {"nested": {"properties": {"n": {"maximum": 2}}}}}})
    assert not out.passed and out.key == "nested.n" and out.observed == 3


def test_item_errors_turn_into_eval_errors():
    with pytest.raises(EvalError, match="daemon.json line 3"):
        run({"key": "broken.x", "op": "eq", "value": 1})
    # other fields of the same item are still judged
    assert run({"key": "user", "op": "eq", "value": "app"}).passed


def test_type_errors_are_eval_errors_not_crashes():
    with pytest.raises(EvalError):
        run({"key": "user", "op": "gt", "value": 3})
    with pytest.raises(EvalError):
        run({"key": "length(user)", "op": "eq", "value": 1}, {"user": 5})


@pytest.mark.parametrize("cond,message", [
    ({"key": "a[", "op": "eq", "value": 1}, "invalid JMESPath"),
    ({"key": "a", "op": "regex", "value": "("}, "invalid regular expression"),
    ({"key": "a", "op": "nope", "value": 1}, "unknown operator"),
    ({"key": "a", "op": "eq", "value": {"param": "missing"}}, "unknown parameter"),
    ({"key": "a", "op": "gte", "value": "x.y", "value_type": "version"}, "value_type version"),
])
def test_bad_conditions_are_input_errors(cond, message):
    with pytest.raises(InputError, match=message):
        compile_condition(cond)


def test_parameters_are_substituted():
    node = compile_condition({"key": "nested.n", "op": "lte", "value": {"param": "limit"}}, {"limit": 3})
    assert node(ITEM).passed
    assert "lte 3" in node.describe()


def test_errors_of_a_nested_item_reach_checks_that_read_it():
    container = {"inspect": {"HostConfig": {"SecurityOpt": []}},
                 "daemon": {"errors": {"effective": "daemon.json line 2: bad", "swarm.inspect": "503"},
                            "effective": {}, "swarm": {"inspect": None}}}
    with pytest.raises(EvalError, match="line 2"):
        run({"key": 'daemon.effective."no-new-privileges"', "op": "true"}, container)
    with pytest.raises(EvalError, match="503"):
        run({"key": "daemon.swarm.inspect.Spec", "op": "present"}, container)
    with pytest.raises(EvalError, match="line 2"):
        run({"key": "daemon.effective.\"default-ulimits\" || `{}`", "op": "empty"}, container)
    assert run({"key": "inspect.HostConfig.SecurityOpt", "op": "empty"}, container).passed


def test_combinators_are_three_valued():
    item = {"own": ["no-new-privileges"], "daemon": {"errors": {"effective": "broken"}, "effective": {}}}
    own = {"key": "own", "op": "contains", "value": "no-new-privileges"}
    daemon = {"key": "daemon.effective.nnp", "op": "true"}
    assert run({"any": [daemon, own]}, item).passed           # one branch passes: pass
    with pytest.raises(EvalError):
        run({"any": [daemon, {**own, "value": "x"}]}, item)   # none passes, one unknown: error
    assert not run({"all": [daemon, {**own, "value": "x"}]}, item).passed   # one fails: fail
    with pytest.raises(EvalError):
        run({"all": [daemon, own]}, item)                     # none fails, one unknown: error


@pytest.mark.parametrize("key", ["a.b.c", "a.b", "a.x.y", "a.list.c", "s.t", "a.b.c || `7`", "a.zero || `7`",
                                 "a.empty || `\"d\"`", "a.f || `true`", "missing || `[1]`", "a.list || `1`",
                                 "a.b.c.d", "a.b.d.e", "a.deep.x.y", "a.deep.x.y.z", "a.zero.x", "a.f.x.y",
                                 "a.t.x", "a.n.x.y.z", "s.t.u.v", "a.list.c.d", "a.ed.x", "a.el.x.y", "a"])
def test_fast_lookup_agrees_with_jmespath(key):
    import jmespath

    item = {"a": {"b": {"c": 3}, "zero": 0, "empty": "", "f": False, "list": [{"c": 1}], "t": True, "n": 2.5,
                  "ed": {}, "el": [], "deep": {"x": {"y": {"z": None}}}}, "s": "text"}
    node = compile_condition({"key": key, "op": "present"})
    assert node._fast is not None
    assert node.lookup(item) == jmespath.search(key, item)


def test_fast_lookups_agree_with_jmespath_on_any_json():
    import jmespath
    from hypothesis import given, settings
    from hypothesis import strategies as st

    keys = ["b", "b.c", "b.c.x", "b.c.x.s", "b.c.x.s.b", "x.b || `7`", "not_null(b.x, c.b.s, s)"]
    nodes = [(key, compile_condition({"key": key, "op": "present"})) for key in keys]
    assert all(node._fast is not None for _, node in nodes)

    @settings(max_examples=400, deadline=None)
    @given(st.dictionaries(st.sampled_from(["b", "c", "s", "x"]), _json_values(), max_size=3))
    def agree(item):
        for key, node in nodes:
            assert node.lookup(item) == jmespath.search(key, item), (key, item)

    agree()


@pytest.mark.parametrize("key", ["not_null(a.x, a.b.c)", "not_null(a.x, missing)", "not_null(a.f, a.b)"])
def test_fast_not_null_agrees_with_jmespath(key):
    import jmespath

    item = {"a": {"b": {"c": 3}, "f": False}}
    node = compile_condition({"key": key, "op": "present"})
    assert node._fast is not None
    assert node.lookup(item) == jmespath.search(key, item)


# ---------------------------------------------------------------------------------------------
# schema conditions judged without jsonschema give jsonschema's first error

SIMPLE_SCHEMAS = [
    {"patternProperties": {r"^container\.apparmor\.security\.beta\.kubernetes\.io/": {
        "type": "string", "pattern": "^(runtime/default|localhost/.*)$"}}},
    {"type": "object", "patternProperties": {"^a": {"type": "string"}, "b$": {"pattern": "^x"}}},
    {"type": "object"},
]


def test_simple_schemas_judge_as_jsonschema_does():
    import jsonschema
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from auditor.packs.conditions import _simple_error, _simple_schema

    keys = st.sampled_from(["container.apparmor.security.beta.kubernetes.io/app", "ab", "a", "b", "xb", "other"])
    values = st.one_of(st.sampled_from(["runtime/default", "localhost/p", "unconfined", "x1", ""]), st.integers(),
                       st.none(), st.booleans(), st.lists(st.integers(), max_size=2))
    instances = st.one_of(st.dictionaries(keys, values, max_size=5), values)

    @settings(max_examples=400, deadline=None)
    @given(st.sampled_from(SIMPLE_SCHEMAS), instances)
    def check(schema, instance):
        simple = _simple_schema(schema)
        assert simple is not None
        error = next(iter(jsonschema.Draft202012Validator(schema).iter_errors(instance)), None)
        expected = None if error is None else (error.message, list(error.absolute_path), error.instance)
        assert _simple_error(simple, instance) == expected

    check()


def test_other_schemas_go_to_jsonschema():
    from auditor.packs.conditions import _simple_schema

    for schema in ({"required": ["a"]}, {"type": "array"}, {"patternProperties": {"a": {"type": "integer"}}},
                   {"patternProperties": {"a": {"minLength": 1}}}, {"patternProperties": {"(": {}}}):
        assert _simple_schema(schema) is None


# ---------------------------------------------------------------------------------------------
# conditions on pack parameters: decided when the pack loads, folded into all / any / not

VERSION_AT = {"param": "version", "op": "gte", "value": "v1.35", "value_type": "version"}
UNMASKED_OK = {"any": [{"key": "proc", "op": "in", "value": [None, "Default"]},
                       {"all": [VERSION_AT, {"key": "host_users", "op": "false"}]}]}


@pytest.mark.parametrize("version,item,passed", [
    ("v1.34", {"proc": "Unmasked", "host_users": False}, False),
    ("v1.35", {"proc": "Unmasked", "host_users": False}, True),
    ("v1.35", {"proc": "Unmasked", "host_users": True}, False),
    ("v1.9", {"proc": "Unmasked", "host_users": False}, False),  # compared as versions: 1.9 < 1.35
    ("v1.37", {"proc": "Default"}, True),
])
def test_parameter_conditions_choose_the_branch(version, item, passed):
    node = compile_condition(UNMASKED_OK, {"version": version})
    assert node(item).passed is passed


def test_parameter_conditions_leave_no_trace_in_the_expected_text():
    old = compile_condition(UNMASKED_OK, {"version": "v1.34"})
    assert old.describe() == "proc in [null, \"Default\"]"  # the v1.35 branch is gone, not shown as false
    new = compile_condition(UNMASKED_OK, {"version": "v1.36"})
    assert new.describe() == "proc in [null, \"Default\"] or host_users false"


def test_a_constant_condition_stays_one_and_says_why():
    from auditor.packs.conditions import Const

    node = compile_condition({"all": [{"key": "x", "op": "present"}, VERSION_AT]}, {"version": "v1.30"})
    assert isinstance(node, Const) and node.passed is False
    assert node({"x": 1}).expected == "parameter version gte v1.35" and node({}).observed == "v1.30"
    negated = compile_condition({"not": VERSION_AT}, {"version": "v1.30"})
    assert isinstance(negated, Const) and negated.passed is True


@pytest.mark.parametrize("cond,params,message", [
    (VERSION_AT, {}, "unknown parameter 'version'"),
    (VERSION_AT, {"version": "latest"}, "parameter version = 'latest': 'latest' is not a version"),
])
def test_bad_parameter_conditions_fail_at_load(cond, params, message):
    with pytest.raises(InputError, match=message):
        compile_condition(cond, params)


# ---------------------------------------------------------------------------------------------
# Node.test: the verdict without Outcomes, for items without error markers

TESTED = [
    {"key": "a.b", "op": "eq", "value": 1},
    {"key": "a.b", "op": "gt", "value": 0},
    {"key": "a.b", "op": "gte", "value": "1.2", "value_type": "version"},
    {"key": "a.b", "op": "lte", "value": 3, "value_type": "integer"},
    {"key": "a.b.c", "op": "present"},
    {"key": "a.list[?c > `1`]", "op": "empty"},
    {"key": "a.b || `true`", "op": "true"},
    {"key": "not_null(a.x, a.b)", "op": "in", "value": [1, "x", None]},
    {"key": "a.s", "op": "regex", "value": "^x"},
    {"key": "a.list[].c", "op": "subset-of", "value": [1, 2]},
    {"flag": "f", "op": "eq", "value": "x"},
    {"schema": {"type": "object", "required": ["b"]}, "key": "a"},
    {"schema": {"patternProperties": {"^s": {"type": "string", "pattern": "^x"}}}, "key": "a"},
    {"all": [{"key": "a.b", "op": "gt", "value": 0}, {"key": "a.s", "op": "regex", "value": "x"}]},
    {"any": [{"key": "a.b", "op": "lt", "value": 0}, {"not": {"key": "a.s", "op": "present"}}]},
    {"not": {"any": [{"key": "a.b", "op": "gte", "value": "1", "value_type": "version"},
                     {"key": "a.list", "op": "not-empty"}]}},
]


def _json_values():
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "x", "xy", "1.2", "s"]))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["b", "c", "s", "x", "list"]), inner, max_size=3)), max_leaves=8)


def test_node_test_gives_the_verdict_of_a_call():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from auditor.packs.conditions import has_error_markers

    nodes = [compile_condition(c) for c in TESTED]
    items = st.fixed_dictionaries({}, optional={"a": _json_values(), "flags": st.dictionaries(
        st.just("f"), st.lists(st.sampled_from(["x", "y"]), max_size=2))})

    @settings(max_examples=400, deadline=None)
    @given(items)
    def agree(item):
        assert not has_error_markers(item)  # no key is "errors": every node may use test()
        for node in nodes:
            try:  # an error is the same error (JMESPath's own TypeError included: the engine reports it)
                expected = node(item).passed
            except Exception as exc:  # noqa: BLE001
                expected = type(exc)
            try:
                got = node.test(item)
            except Exception as exc:  # noqa: BLE001
                got = type(exc)
            assert got == expected, (node.describe(), item)

    agree()


def test_error_markers_are_found_where_checks_look():
    from auditor.packs.conditions import has_error_markers

    assert has_error_markers({"errors": {"a": "broken"}})
    assert has_error_markers({"daemon": {"errors": {"effective": "broken"}}})
    assert not has_error_markers({"errors": {}, "daemon": {"errors": []}, "x": [{"errors": {"a": 1}}]})
    assert not has_error_markers({"a": {"b": {"errors": {"c": "deeper than any check reads"}}}})
