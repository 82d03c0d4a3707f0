"""Pack keys (JMESPath expressions) turned into plain Python functions, once per run.

The JMESPath interpreter walks the expression's tree again for every item (a dict lookup and a
method call per node); at 43k objects the keys of the Kubernetes packs are searched about a
hundred thousand times, and the walking is a third of the judging. :func:`compile_key` makes
one closure per node instead, with JMESPath's own rules, node type by node type:

* a field of anything but an object is null; an index of anything but an array is null, and so
  is an index out of range;
* projections, filters and flattening of anything but an array are null, and drop the nulls
  their right side gives;
* false is null, false, and the empty string, array and object (``||``, ``&&``, filters); ``!``
  of the number 0 is false;
* ``==`` never holds between a boolean and the numbers 0 and 1; ``<`` and the other orderings
  compare numbers and strings and give null for anything else (a string against a number
  raises, as it does in the interpreter).

Chains of fields (most keys) are unrolled, and ``not_null`` of field chains is judged here.
Any other node (other functions, slices, multi-select objects, ``*`` over an object) is left to
the interpreter, for that subtree only, so the result is always the interpreter's. One
interpreter serves every search: ``expression.search(item)`` would build one per call, whose
bound-method cache makes a reference cycle (about 100,000 at 43k objects, left to the cyclic
collector).
``tests/test_key_compiler.py`` compares both on every key of the shipped packs and on
generated expressions and items.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from numbers import Number
from typing import Any

import jmespath.visitor

Getter = Callable[[Any], Any]

_INTERPRETER = jmespath.visitor.TreeInterpreter()
_ORDERINGS = {"lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge}


def _number(value: Any) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def _false(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, (str, list, dict)) and not value)


def _equal(left: Any, right: Any) -> bool:
    if _number(left) and left in (0, 1) and isinstance(right, bool):
        return False
    if _number(right) and right in (0, 1) and isinstance(left, bool):
        return False
    return bool(left == right)


def compile_key(parsed: dict[str, Any]) -> Getter:
    """A function of an item giving what ``jmespath`` gives for the expression ``parsed`` (the
    tree of ``jmespath.compile(key).parsed``)."""
    kind = parsed.get("type")
    build = _BUILDERS.get(kind)  # type: ignore[arg-type]
    if build is None:
        return lambda value: _INTERPRETER.visit(parsed, value)
    return build(parsed)


def _field(node: dict[str, Any]) -> Getter:
    name = node["value"]

    def field(value: Any) -> Any:
        return value.get(name) if isinstance(value, dict) else None
    return field


def _field_names(node: dict[str, Any]) -> tuple[str, ...] | None:
    """The names of a key that is only fields (``a.b.c``), else None."""
    if node.get("type") == "field":
        return (node["value"],)
    if node.get("type") != "subexpression":
        return None
    names: list[str] = []
    for child in node["children"]:
        part = _field_names(child)
        if part is None:
            return None
        names.extend(part)
    return tuple(names)


_NOTHING: dict[str, Any] = {}


def _fields(names: tuple[str, ...]) -> Getter:
    """A chain of fields, unrolled for the usual two to four names (the commonest keys).

    Evidence is JSON data: a node that is not an object is an array, string, number, boolean or
    null. ``(node or _NOTHING).get`` gives null for the falsy ones, and the truthy ones have no
    ``get`` (AttributeError: null as well), so no type test is needed."""
    if len(names) == 2:
        a, b = names

        def get2(item: Any) -> Any:
            try:
                return ((item or _NOTHING).get(a) or _NOTHING).get(b)
            except AttributeError:
                return None
        return get2
    if len(names) == 3:
        a, b, c = names

        def get3(item: Any) -> Any:
            try:
                return (((item or _NOTHING).get(a) or _NOTHING).get(b) or _NOTHING).get(c)
            except AttributeError:
                return None
        return get3
    if len(names) == 4:
        a, b, c, d = names

        def get4(item: Any) -> Any:
            try:
                return ((((item or _NOTHING).get(a) or _NOTHING).get(b) or _NOTHING).get(c) or _NOTHING).get(d)
            except AttributeError:
                return None
        return get4

    def get(item: Any) -> Any:
        for name in names:
            if not isinstance(item, dict):
                return None
            item = item.get(name)
        return item
    return get


def _function(node: dict[str, Any]) -> Getter:
    """``not_null(a.b, c.d)`` of field chains: the first that is not null (nothing to raise, so
    evaluating the arguments lazily gives what the interpreter gives); any other function is
    left to the interpreter."""
    chains = [_field_names(child) for child in node["children"]]
    if node.get("value") != "not_null" or not chains or any(c is None for c in chains):
        return lambda value: _INTERPRETER.visit(node, value)
    getters = [_fields(chain) for chain in chains]  # type: ignore[arg-type]

    def first_not_null(value: Any) -> Any:
        for getter in getters:
            found = getter(value)
            if found is not None:
                return found
        return None
    return first_not_null


def _chain(node: dict[str, Any]) -> Getter:
    names = _field_names(node)
    if names is not None:
        return _fields(names)
    steps = [compile_key(child) for child in node["children"]]
    if len(steps) == 2:
        first, second = steps
        return lambda value: second(first(value))

    def chain(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value
    return chain


def _index(node: dict[str, Any]) -> Getter:
    position = node["value"]

    def index(value: Any) -> Any:
        if not isinstance(value, list):
            return None
        try:
            return value[position]
        except IndexError:
            return None
    return index


def _projection(node: dict[str, Any]) -> Getter:
    left, right = (compile_key(child) for child in node["children"])

    def projection(value: Any) -> Any:
        base = left(value)
        if not isinstance(base, list):
            return None
        return [out for out in map(right, base) if out is not None]
    return projection


def _filter_projection(node: dict[str, Any]) -> Getter:
    left, right, condition = (compile_key(child) for child in node["children"])

    def filter_projection(value: Any) -> Any:
        base = left(value)
        if not isinstance(base, list):
            return None
        collected = []
        for element in base:
            if not _false(condition(element)):
                out = right(element)
                if out is not None:
                    collected.append(out)
        return collected
    return filter_projection


def _flatten(node: dict[str, Any]) -> Getter:
    inner = compile_key(node["children"][0])

    def flatten(value: Any) -> Any:
        base = inner(value)
        if not isinstance(base, list):
            return None
        merged: list[Any] = []
        for element in base:
            if isinstance(element, list):
                merged.extend(element)
            else:
                merged.append(element)
        return merged
    return flatten


def _current(node: dict[str, Any]) -> Getter:
    return lambda value: value


def _literal(node: dict[str, Any]) -> Getter:
    constant = node["value"]
    return lambda value: constant


def _comparator(node: dict[str, Any]) -> Getter:
    left, right = (compile_key(child) for child in node["children"])
    op = node["value"]
    if op == "eq":
        return lambda value: _equal(left(value), right(value))
    if op == "ne":
        return lambda value: not _equal(left(value), right(value))
    ordering = _ORDERINGS[op]

    def compare(value: Any) -> Any:
        a, b = left(value), right(value)
        if not ((_number(a) or isinstance(a, str)) and (_number(b) or isinstance(b, str))):
            return None
        return ordering(a, b)
    return compare


def _and(node: dict[str, Any]) -> Getter:
    left, right = (compile_key(child) for child in node["children"])

    def both(value: Any) -> Any:
        matched = left(value)
        return matched if _false(matched) else right(value)
    return both


def _or(node: dict[str, Any]) -> Getter:
    left, right = (compile_key(child) for child in node["children"])

    def either(value: Any) -> Any:
        matched = left(value)
        return right(value) if _false(matched) else matched
    return either


def _not(node: dict[str, Any]) -> Getter:
    inner = compile_key(node["children"][0])

    def negation(value: Any) -> Any:
        result = inner(value)
        if _number(result) and result == 0:
            return False
        return not result
    return negation


def _multi_select_list(node: dict[str, Any]) -> Getter:
    parts = [compile_key(child) for child in node["children"]]

    def multi_select(value: Any) -> Any:
        if value is None:
            return None
        return [part(value) for part in parts]
    return multi_select


_BUILDERS: dict[str, Callable[[dict[str, Any]], Getter]] = {
    "field": _field, "subexpression": _chain, "index_expression": _chain, "pipe": _chain, "index": _index,
    "projection": _projection, "filter_projection": _filter_projection, "flatten": _flatten,
    "current": _current, "identity": _current, "literal": _literal, "comparator": _comparator,
    "and_expression": _and, "or_expression": _or, "not_expression": _not, "multi_select_list": _multi_select_list,
    "function_expression": _function,
}
