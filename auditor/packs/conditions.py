"""Compile a pack condition tree into a callable, once per run.

A condition is one of:

* ``{key: JMESPATH, op: OP, value: V, value_type: T}`` — look a value up in the item and compare;
* ``{flag: NAME, op: OP, value: V}`` — the last value of an argv flag in the item's ``flags``;
* ``{schema: JSON_SCHEMA, key: JMESPATH?}`` — the item (or the value at ``key``) validates;
* ``{param: NAME, op: OP, value: V, value_type: T}`` — a test on a pack parameter, decided when
  the pack loads (a check that differs by Pod Security Standards version);
* ``{all: [...]}``, ``{any: [...]}``, ``{not: COND}``.

Every evaluation returns an :class:`Outcome` that says what was expected and what was seen, so
a report can show evidence and not only a red cross. The operators live in one table, ``OPS``;
the pack JSON Schema is generated from it (see :mod:`auditor.packs.loader`).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from typing import Any, NamedTuple

import jmespath
import jmespath.exceptions

from auditor.common.errors import InputError
from auditor.common.linear_regex import RegexRefused, compile_linear, is_pattern
from auditor.packs.key_compiler import compile_key

_MISSING_TEXT = "nothing (key absent)"


class EvalError(Exception):
    """The condition could not be judged for this item (its evidence is missing or broken)."""


class Outcome(NamedTuple):
    """Result of one condition on one item: passed or not, and the evidence for it (a tuple:
    hundreds of thousands are made in a Kubernetes run)."""

    passed: bool
    expected: str
    observed: Any
    key: str


# ---------------------------------------------------------------------------------------------
# value types: normalise both sides before comparing

def _to_int(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value
    try:
        return int(str(value).strip(), 0) if str(value).strip().lower().startswith("0x") else int(str(value).strip())
    except ValueError:
        try:
            return float(str(value))
        except ValueError:
            raise EvalError(f"{value!r} is not a number") from None


def _version_tuple(value: Any) -> tuple[int, ...]:
    parts = re.findall(r"\d{1,18}", str(value).split("+")[0].split("-")[0])  # no 5000-digit int() (ValueError)
    if not parts:
        raise EvalError(f"{value!r} is not a version")
    return tuple(int(p) for p in parts[:4])


def _capability(value: Any) -> Any:
    if isinstance(value, list):
        return [_capability(v) for v in value]
    if isinstance(value, str):
        upper = value.strip().upper()
        return upper[4:] if upper.startswith("CAP_") else upper
    return value


def _lower(value: Any) -> Any:
    if isinstance(value, list):
        return [_lower(v) for v in value]
    return value.lower() if isinstance(value, str) else value


def _mode(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        raise EvalError(f"{value!r} is not an octal file mode") from None


def _integer(value: Any) -> Any:
    if isinstance(value, list):
        return [_integer(v) for v in value]
    return _to_int(value)


# The instant ages are measured against: the evidence's ``metadata.collected_at``, set by the engine
# once per evaluation (never the wall clock, so a bundle always gives the same verdicts).
AS_OF: ContextVar[_dt.datetime | None] = ContextVar("auditor_as_of", default=None)
_TIMESTAMP = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:?\d\d)?$")


def parse_timestamp(value: Any) -> _dt.datetime | None:
    """An RFC 3339 timestamp (Docker's nanoseconds and Kubernetes' ``Z`` included) as aware UTC, or None."""
    match = _TIMESTAMP.match(str(value).strip()) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    offset = _dt.timedelta(0)
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    try:
        stamp = _dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                             tzinfo=_dt.timezone(offset))
    except ValueError:
        return None
    return stamp.astimezone(_dt.timezone.utc)


def _age_days(value: Any) -> Any:
    """A timestamp becomes its age in days at collection time; a number (the threshold) stays as it is.

    Docker's zero time (``0001-01-01T00:00:00Z``, a container never started) has no age: None.
    """
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    if isinstance(value, list):
        return [_age_days(v) for v in value]
    stamp = parse_timestamp(value)
    if stamp is None:
        raise EvalError(f"{value!r} is not a timestamp")
    if stamp.year <= 1:
        return None
    as_of = AS_OF.get()
    if as_of is None:
        raise EvalError("cannot measure an age: the evidence has no metadata.collected_at")
    return round((as_of - stamp).total_seconds() / 86400.0, 3)


VALUE_TYPES: dict[str, Callable[[Any], Any]] = {
    "age_days": _age_days,
    "integer": _integer,
    "version": lambda v: None if v is None else _version_tuple(v),
    "capability": _capability,
    "lower": _lower,
    "mode": lambda v: None if v is None else _mode(v),
}


# ---------------------------------------------------------------------------------------------
# operators: name -> (function(observed, value) -> bool, needs a value, JSON Schema of the value)

def _is_empty(obs: Any) -> bool:
    return obs is None or obs == "" or obs == [] or obs == {}


def _contains(obs: Any, value: Any) -> bool:
    if obs is None:
        return False
    if isinstance(obs, str):
        return str(value) in obs
    if isinstance(obs, dict):
        return isinstance(value, Hashable) and value in obs  # a list or object is never a key
    if isinstance(obs, list):
        return value in obs
    raise EvalError(f"cannot look for {value!r} inside {type(obs).__name__}")


def _as_list(obs: Any) -> list[Any]:
    if obs is None:
        return []
    if isinstance(obs, list):
        return obs
    if isinstance(obs, dict):
        return list(obs)
    return [obs]


def _compare(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def op(obs: Any, value: Any) -> bool:
        if obs is None:
            return False
        try:
            return fn(obs, value)
        except TypeError:
            raise EvalError(f"cannot compare {obs!r} with {value!r}") from None
    return op


def _regex_search(pattern: Any, obs: Any) -> bool:
    return obs is not None and pattern.search(obs if isinstance(obs, str) else str(obs)) not in (None, False)


def _mode_at_most(obs: Any, ceiling: Any) -> bool:
    if obs is None:
        return False
    # A mode is within the ceiling when it sets no permission bit the ceiling leaves clear.
    return _mode(obs) & ~_mode(ceiling) & 0o7777 == 0


OPS: dict[str, tuple[Callable[[Any, Any], bool], bool, dict[str, Any]]] = {
    "eq": (lambda o, v: o == v, True, {}),
    "ne": (lambda o, v: o != v, True, {}),
    "in": (lambda o, v: o in v, True, {"type": "array"}),
    "not-in": (lambda o, v: o not in v, True, {"type": "array"}),
    "contains": (_contains, True, {}),
    "not-contains": (lambda o, v: not _contains(o, v), True, {}),
    "regex": (lambda o, p: _regex_search(p, o), True, {"type": "string"}),
    "not-regex": (lambda o, p: not _regex_search(p, o), True, {"type": "string"}),
    "gt": (_compare(lambda o, v: o > v), True, {}),
    "gte": (_compare(lambda o, v: o >= v), True, {}),
    "lt": (_compare(lambda o, v: o < v), True, {}),
    "lte": (_compare(lambda o, v: o <= v), True, {}),
    "present": (lambda o, v: o is not None, False, {}),
    "absent": (lambda o, v: o is None, False, {}),
    "empty": (lambda o, v: _is_empty(o), False, {}),
    "not-empty": (lambda o, v: not _is_empty(o), False, {}),
    "true": (lambda o, v: o is True, False, {}),
    "false": (lambda o, v: o is False, False, {}),
    "mode-at-most": (_mode_at_most, True, {"type": "string", "pattern": "^0?[0-7]{3,4}$"}),
    "subset-of": (lambda o, v: all(x in v for x in _as_list(o)), True, {"type": "array"}),
    "disjoint": (lambda o, v: not any(x in v for x in _as_list(o)), True, {"type": "array"}),
    "any-match": (lambda o, p: any(_regex_search(p, x) for x in _as_list(o)), True, {"type": "string"}),
    "none-match": (lambda o, p: not any(_regex_search(p, x) for x in _as_list(o)), True, {"type": "string"}),
}

# Operators whose value is a regular expression, compiled once.
_REGEX_OPS = {"regex", "not-regex", "any-match", "none-match"}
# Operators that compare the value itself rather than a normalised copy (mode keeps its string).
_RAW_OPS = {"mode-at-most"}


def _describe_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if is_pattern(value):
        return f"/{value.pattern}/"
    if isinstance(value, str):
        return value
    return repr(value) if not isinstance(value, (list, dict)) else _json_text(value)


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def _flatten(node: dict[str, Any]) -> list[dict[str, Any]]:
    if node.get("type") == "subexpression":
        return [part for child in node.get("children", []) for part in _flatten(child)]
    return [node]


def _leading_fields(node: dict[str, Any]) -> tuple[str, ...]:
    """The field names a JMESPath AST reads first, e.g. ``daemon.effective.icc`` -> (daemon, effective, icc)."""
    while node and node.get("type") not in ("field", "subexpression"):
        children = node.get("children") or []
        if not children:
            return ()
        node = children[0]
    names = []
    for part in _flatten(node):
        if part.get("type") != "field":
            break
        names.append(part["value"])
    return tuple(names)


def _check_item_errors(item: dict[str, Any], path: tuple[str, ...]) -> None:
    """Raise EvalError when the evidence along ``path`` is marked broken by its collector.

    An item (or the item nested in it that a check reads, such as the daemon item a container
    sees as ``daemon``) may carry ``errors: {FIELD: reason}``; ``FIELD`` may also be a dotted
    pair (``swarm.inspect``). Only those two levels carry errors.
    """
    errors = item.get("errors")
    if errors and isinstance(errors, dict):
        _raise_listed(errors, path, 0)
    if len(path) > 1:
        inner = item.get(path[0])
        if isinstance(inner, dict):
            errors = inner.get("errors")
            if errors and isinstance(errors, dict):
                _raise_listed(errors, path, 1)


def has_error_markers(item: dict[str, Any]) -> bool:
    """True when :func:`_check_item_errors` could raise for some path of ``item``: the item, or a
    dict directly in it, carries a non-empty ``errors`` mapping. Items without markers are judged
    with :meth:`Node.test` (the same verdict, without the per-condition checks)."""
    errors = item.get("errors")
    if errors and isinstance(errors, dict):
        return True
    for value in item.values():
        if isinstance(value, dict):
            errors = value.get("errors")
            if errors and isinstance(errors, dict):
                return True
    return False


def _raise_listed(errors: dict[str, Any], path: tuple[str, ...], index: int) -> None:
    for key in (path[index], ".".join(path[index:index + 2])):
        if key in errors:
            raise EvalError(str(errors[key]))


# ---------------------------------------------------------------------------------------------
# compiled nodes

class Node:
    """A compiled condition."""

    paths: tuple[tuple[str, ...], ...] = ()

    def evaluate(self, item: dict[str, Any]) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, item: dict[str, Any]) -> Outcome:
        for path in self.paths:
            _check_item_errors(item, path)
        return self.evaluate(item)

    def test(self, item: dict[str, Any]) -> bool:
        """``self(item).passed`` for an item without error markers (:func:`has_error_markers` is
        False), raising what ``self(item)`` raises: the same verdict without building the
        Outcomes, which only a failing subject needs (the engine then calls the node itself)."""
        return self.evaluate(item).passed


class Compare(Node):
    def __init__(self, key: str, op: str, value: Any, value_type: str | None, label: str | None = None):
        self.key = key
        self.label = label or key
        try:
            self.expr = jmespath.compile(key)
        except jmespath.exceptions.JMESPathError as exc:
            raise InputError(f"invalid JMESPath key {key!r}: {str(exc).splitlines()[0]}") from None
        fields = _leading_fields(self.expr.parsed)
        self.paths = (fields,) if fields else ()
        self.op_name = op
        self.fn, needs_value, _ = OPS[op]
        self.normalise = VALUE_TYPES[value_type] if value_type else None
        if op in _REGEX_OPS:
            try:
                value = _MatchUnless(value) if isinstance(value, dict) else _regex(str(value))
            except RegexRefused as exc:
                raise InputError(f"invalid regular expression {value!r}: {exc}") from None
        elif self.normalise and needs_value and op not in _RAW_OPS:
            try:
                value = self.normalise(value)
            except EvalError as exc:
                raise InputError(f"value {value!r} does not fit value_type {value_type}: {exc}") from None
        self.value = value
        self.shown_value = value
        self._fast = compile_key(self.expr.parsed)
        self._text: str | None = None

    def lookup(self, item: dict[str, Any]) -> Any:
        try:
            return self._fast(item)
        except jmespath.exceptions.JMESPathError as exc:
            raise EvalError(f"{self.key}: {str(exc).splitlines()[0]}") from None

    def evaluate(self, item: dict[str, Any]) -> Outcome:
        raw = self.lookup(item)
        observed = raw
        if self.normalise and self.op_name not in _RAW_OPS:
            observed = self.normalise(raw)
        passed = bool(self.fn(observed, self.value))
        return Outcome(passed, self.describe(), raw, self.label)

    def test(self, item: dict[str, Any]) -> bool:
        observed = self.lookup(item)
        if self.normalise and self.op_name not in _RAW_OPS:
            observed = self.normalise(observed)
        return bool(self.fn(observed, self.value))

    def describe(self) -> str:
        if self._text is None:
            _, needs_value, _ = OPS[self.op_name]
            self._text = (f"{self.label} {self.op_name}" if not needs_value
                          else f"{self.label} {self.op_name} {_describe_value(self.shown_value)}")
        return self._text


class Flag(Compare):
    """A test on an argv flag: the last value given wins, as in pflag."""

    def __init__(self, flag: str, op: str, value: Any, value_type: str | None):
        name = flag.lstrip("-")
        super().__init__(f'flags."{name}"[-1]', op, value, value_type, label=f"--{name}")
        self.paths = (("flags",),)


class _MatchUnless:
    """A regex operator's value ``{match: RE, unless: RE}``: a text matches when ``match`` finds
    something in it and ``unless`` does not. It says what a negative look-ahead would say
    (``^(?!.*install).*update``), which the linear-time engine cannot run."""

    def __init__(self, value: dict[str, Any]):
        if set(value) - {"match", "unless"} or not isinstance(value.get("match"), str) \
                or not isinstance(value.get("unless", ""), str):
            raise RegexRefused("a pattern object has a string 'match' and optionally a string 'unless', nothing else")
        self.match = _regex(value["match"])
        self.unless = _regex(value["unless"]) if value.get("unless") else None
        self.pattern = value["match"] + (f"/ unless /{value['unless']}" if self.unless else "")

    def search(self, text: str) -> bool:
        return self.match.search(text) is not None and (self.unless is None or self.unless.search(text) is None)


def _regex(pattern: str) -> Any:
    """A pack's regular expression on the linear-time engine (auditor.common.linear_regex): a
    pattern it refuses is a RegexRefused, which the loader reports naming the control."""
    return compile_linear(pattern)


def _simple_schema(schema: Any) -> tuple[bool, list[tuple[Any, bool, Any]]] | None:
    """A schema of only ``type: object`` and ``patternProperties`` whose subschemas hold only
    ``type: string`` and ``pattern`` (what the packs use to judge annotations), as (object typed,
    [(name regex, string typed, value regex)]); None for anything else, which jsonschema judges.
    Judged here with the same results and messages, without importing jsonschema for every run."""
    if not isinstance(schema, dict) or set(schema) - {"type", "patternProperties"} \
            or schema.get("type", "object") != "object" or not isinstance(schema.get("patternProperties", {}), dict):
        return None
    rules = []
    try:
        for name, sub in (schema.get("patternProperties") or {}).items():
            if not isinstance(sub, dict) or set(sub) - {"type", "pattern"} or sub.get("type", "string") != "string" \
                    or not isinstance(sub.get("pattern", ""), str):
                return None
            rules.append((_regex(name), "type" in sub, _regex(sub["pattern"]) if "pattern" in sub else None))
    except RegexRefused:
        return None  # the schema check names the refused pattern
    return "type" in schema, rules


def _simple_error(simple: tuple[bool, list[tuple[Any, bool, Any]]], instance: Any
                  ) -> tuple[str, list[str], Any] | None:
    """The first error jsonschema would report for a :func:`_simple_schema`, as (message, path, instance)."""
    typed, rules = simple
    if not isinstance(instance, dict):
        return (f"{instance!r} is not of type 'object'", [], instance) if typed else None
    for name_re, string_typed, value_re in rules:  # jsonschema: each pattern, then each property
        for key, value in instance.items():
            if not name_re.search(key):
                continue
            if not isinstance(value, str):
                if string_typed:
                    return f"{value!r} is not of type 'string'", [key], value
                continue
            if value_re is not None and not value_re.search(value):
                return f"{value!r} does not match {value_re.pattern!r}", [key], value
    return None


def _schema_patterns(schema: Any) -> list[str]:
    """Every regular expression of a JSON Schema (``pattern`` values, ``patternProperties`` names)."""
    found: list[str] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.append(node["pattern"])
            if isinstance(node.get("patternProperties"), dict):
                found.extend(str(k) for k in node["patternProperties"])
            stack.extend(v for k, v in node.items() if k != "pattern")
    return found


_LINEAR_VALIDATORS: dict[Any, Any] = {}


def linear_validator(cls: Any) -> Any:
    """``cls`` (a jsonschema validator class) with ``pattern``, ``patternProperties`` and
    ``additionalProperties`` matched by the linear-time engine instead of Python's ``re``."""
    if cls not in _LINEAR_VALIDATORS:
        import jsonschema

        def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Any:
            if validator.is_type(instance, "string") and not compile_linear(patrn).search(instance):
                yield jsonschema.ValidationError(f"{instance!r} does not match {patrn!r}")

        def pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any, schema: Any) -> Any:
            if not validator.is_type(instance, "object"):
                return
            for patrn, subschema in patterns.items():
                compiled = compile_linear(patrn)
                for key, value in instance.items():
                    if compiled.search(key):
                        yield from validator.descend(value, subschema, path=key, schema_path=patrn)

        def additional_properties(validator: Any, additional: Any, instance: Any, schema: Any) -> Any:
            if not validator.is_type(instance, "object"):
                return
            known = schema.get("properties", {})
            patterns = [compile_linear(p) for p in schema.get("patternProperties", {})]
            extras = [k for k in instance if k not in known and not any(p.search(k) for p in patterns)]
            if validator.is_type(additional, "object"):
                for extra in extras:
                    yield from validator.descend(instance[extra], additional, path=extra)
            elif additional is False and extras:
                names = ", ".join(repr(e) for e in sorted(extras))
                yield jsonschema.ValidationError(f"Additional properties are not allowed ({names} "
                                                 f"{'was' if len(extras) == 1 else 'were'} unexpected)")

        _LINEAR_VALIDATORS[cls] = jsonschema.validators.extend(cls, {
            "pattern": pattern, "patternProperties": pattern_properties,
            "additionalProperties": additional_properties})
    return _LINEAR_VALIDATORS[cls]


class Schema(Node):
    def __init__(self, schema: dict[str, Any], key: str | None):
        self.simple = _simple_schema(schema)
        self.validator = None
        if self.simple is None:
            import jsonschema

            try:
                cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
                cls.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise InputError(f"invalid JSON Schema condition: {exc.message}") from None
            for pattern in _schema_patterns(schema):
                try:
                    compile_linear(pattern)
                except RegexRefused as exc:
                    raise InputError(f"invalid JSON Schema condition: pattern {pattern!r}: {exc}") from None
            self.validator = linear_validator(cls)(schema)
        self.key = key
        self.expr = jmespath.compile(key) if key else None
        self._get = compile_key(self.expr.parsed) if self.expr else None
        fields = _leading_fields(self.expr.parsed) if self.expr else ()
        self.paths = (fields,) if fields else ()

    def first_error(self, target: Any) -> tuple[str, list[Any], Any] | None:
        """(message, path, instance) of the first schema error, or None."""
        if self.simple is not None:
            return _simple_error(self.simple, target)
        error = next(iter(self.validator.iter_errors(target)), None)  # type: ignore[union-attr]
        return None if error is None else (error.message, list(error.absolute_path), error.instance)

    def evaluate(self, item: dict[str, Any]) -> Outcome:
        target = self._get(item) if self._get else item
        error = self.first_error(target)
        if error is None:
            return Outcome(True, self.describe(), None, self.key or "")
        message, path, instance = error
        where = ".".join(str(p) for p in path)
        observed = instance if where else message
        label = ".".join(x for x in (self.key or "", where) if x)
        return Outcome(False, f"{self.describe()}: {message}", observed, label)

    def test(self, item: dict[str, Any]) -> bool:
        return self.first_error(self._get(item) if self._get else item) is None

    def describe(self) -> str:
        return f"{self.key or 'item'} matches the schema"


class All(Node):
    def __init__(self, children: list[Node]):
        self.children = children

    def evaluate(self, item: dict[str, Any]) -> Outcome:
        # Three-valued: one failing branch fails the whole even when another cannot be judged.
        last, error = None, None
        for child in self.children:
            try:
                last = child(item)
            except EvalError as exc:
                error = error or exc
                continue
            if not last.passed:
                return last
        if error is not None:
            raise error
        assert last is not None
        return Outcome(True, self.describe(), last.observed, last.key)

    def test(self, item: dict[str, Any]) -> bool:
        error = None
        for child in self.children:
            try:
                if not child.test(item):
                    return False
            except EvalError as exc:
                error = error or exc
        if error is not None:
            raise error
        return True

    def describe(self) -> str:
        if getattr(self, "_text", None) is None:
            self._text = " and ".join(_wrap(c) for c in self.children)
        return self._text


class Any_(Node):
    def __init__(self, children: list[Node]):
        self.children = children

    def evaluate(self, item: dict[str, Any]) -> Outcome:
        # Three-valued: one passing branch passes the whole even when another cannot be judged.
        seen, error = [], None
        for child in self.children:
            try:
                out = child(item)
            except EvalError as exc:
                error = error or exc
                continue
            if out.passed:
                return out
            seen.append(out)
        if error is not None:
            raise error
        observed = {o.key: o.observed for o in seen} if len({o.key for o in seen}) == len(seen) else \
            [o.observed for o in seen]
        return Outcome(False, self.describe(), observed, ", ".join(dict.fromkeys(o.key for o in seen)))

    def test(self, item: dict[str, Any]) -> bool:
        error = None
        for child in self.children:
            try:
                if child.test(item):
                    return True
            except EvalError as exc:
                error = error or exc
        if error is not None:
            raise error
        return False

    def describe(self) -> str:
        if getattr(self, "_text", None) is None:
            self._text = " or ".join(_wrap(c) for c in self.children)
        return self._text


class Not(Node):
    def __init__(self, child: Node):
        self.child = child

    def evaluate(self, item: dict[str, Any]) -> Outcome:
        out = self.child(item)
        return Outcome(not out.passed, self.describe(), out.observed, out.key)

    def test(self, item: dict[str, Any]) -> bool:
        return not self.child.test(item)

    def describe(self) -> str:
        if getattr(self, "_text", None) is None:
            self._text = f"not ({self.child.describe()})"
        return self._text


class Const(Node):
    """A condition on the pack's parameters (``{param: version, op: gte, value: v1.35}``): known
    when the pack loads, so it is decided then and folded into the ``all`` / ``any`` / ``not``
    around it; only a condition that is constant as a whole stays one (a ``where`` that is
    constantly false makes its control not applicable)."""

    def __init__(self, passed: bool, text: str, observed: Any, key: str):
        self.passed, self.text, self.observed, self.key = passed, text, observed, key

    def evaluate(self, item: dict[str, Any]) -> Outcome:
        return Outcome(self.passed, self.text, self.observed, self.key)

    def test(self, item: dict[str, Any]) -> bool:
        return self.passed

    def describe(self) -> str:
        return self.text


def _param_condition(cond: dict[str, Any], value: Any, params: dict[str, Any]) -> Const:
    name = cond["param"]
    if name not in params:
        raise InputError(f"unknown parameter {name!r}")
    try:
        node = Compare("@", cond["op"], value, cond.get("value_type"), label=f"parameter {name}")
        node.shown_value = value  # as written (v1.35), not as normalised ((1, 35))
        outcome = node.evaluate(params[name])
    except EvalError as exc:
        raise InputError(f"parameter {name} = {params[name]!r}: {exc}") from None
    return Const(outcome.passed, outcome.expected, params[name], f"parameter {name}")


def _fold(kind: str, children: list[Node]) -> Node:
    """``all`` / ``any`` of ``children`` with the constant ones (parameter conditions) folded in;
    without constants the node is built exactly as before."""
    consts = [c for c in children if isinstance(c, Const)]
    if not consts:
        return All(children) if kind == "all" else Any_(children)
    decisive = False if kind == "all" else True  # a false child decides `all`, a true one `any`
    for const in consts:
        if const.passed is decisive:
            return const
    rest = [c for c in children if not isinstance(c, Const)]
    if not rest:
        return consts[-1]
    if len(rest) == 1:
        return rest[0]
    return All(rest) if kind == "all" else Any_(rest)


def _wrap(node: Node) -> str:
    text = node.describe()
    return f"({text})" if isinstance(node, (All, Any_)) else text


def compile_condition(cond: Any, params: dict[str, Any] | None = None) -> Node:
    """Compile a (schema-validated) condition tree. ``{param: NAME}`` values come from ``params``."""
    params = params or {}
    if not isinstance(cond, dict):
        raise InputError(f"a condition must be a mapping, got {type(cond).__name__}")
    if "all" in cond:
        return _fold("all", [compile_condition(c, params) for c in cond["all"]])
    if "any" in cond:
        return _fold("any", [compile_condition(c, params) for c in cond["any"]])
    if "not" in cond:
        child = compile_condition(cond["not"], params)
        if isinstance(child, Const):
            return Const(not child.passed, f"not ({child.text})", child.observed, child.key)
        return Not(child)
    if "schema" in cond:
        return Schema(cond["schema"], cond.get("key"))
    op = cond.get("op")
    if op not in OPS:
        raise InputError(f"unknown operator {op!r}")
    value = cond.get("value")
    if isinstance(value, dict) and set(value) == {"param"}:
        name = value["param"]
        if name not in params:
            raise InputError(f"unknown parameter {name!r}")
        value = params[name]
    if OPS[op][2].get("type") == "array" and not isinstance(value, list):
        # `in` and the set operators test membership: a scalar would fail on every item at run time
        raise InputError(f"operator {op} needs a list value, got {value!r}")
    if "param" in cond:
        return _param_condition(cond, value, params)
    if "flag" in cond:
        return Flag(cond["flag"], op, value, cond.get("value_type"))
    return Compare(cond["key"], op, value, cond.get("value_type"))
